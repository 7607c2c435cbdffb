"""Models: build tiny Llamas or load pretrained HF models; checkpoint save/load/resume."""
