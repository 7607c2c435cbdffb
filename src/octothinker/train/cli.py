"""`octothinker midtrain <recipe> [overrides] [--stage NAME] [--dry-run]` (no torch import at load time)."""
from __future__ import annotations


def register(sub) -> None:
    from ..cli import add_recipe_args

    p = sub.add_parser(
        "midtrain",
        help="mid-train: base / stable / decay branches on the data shards",
        description="Run the recipe's midtrain.stages in order (base pretraining, the constant-LR stable stage, "
        "decay branches that each start from the stable checkpoint, ablations). Complete stages with the same "
        "config are skipped; an interrupted stage resumes exactly from its last checkpoint. Under torchrun the "
        "model is sharded with FSDP2 and the data split across ranks.",
    )
    add_recipe_args(p)
    p.add_argument("--stage", action="append", metavar="NAME", help="run only this stage (repeatable); its parents must exist")
    p.add_argument("--dry-run", action="store_true", help="build the model on the meta device, print the plan and a per-GPU memory estimate")
    p.add_argument("--world-size", type=int, default=None, help="GPUs to plan for with --dry-run (default: WORLD_SIZE or 1)")
    p.add_argument("--stop-after", type=int, default=None, metavar="STEPS", help="stop each stage after this many steps with a checkpoint (resume later)")
    p.set_defaults(func=_midtrain)


def _midtrain(args) -> int:
    from ..cli import load_recipe_from_args
    from .midtrain import run_midtrain

    recipe = load_recipe_from_args(args)
    out = run_midtrain(recipe, stages=args.stage, dry_run=args.dry_run, stop_after=args.stop_after, world_size=args.world_size)
    if not args.dry_run:
        print(f"midtrain checkpoints in {out}")
    return 0
