"""The ``resdsl`` command. Only this module formats errors and chooses exit codes:
0 success, 1 a fault in a spec, 2 a usage error (or PyTorch missing where ``compile`` needs it)."""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from resdsl.errors import ResdslError, UsageError, format_diagnostic, format_report, printable
from resdsl.limits import MAX_NODES, NUMBER_LIMIT

if TYPE_CHECKING:
    from resdsl.network import Network

T = TypeVar("T")

CONVENTIONS = """\
conventions:
  params       learnable parameters (sum of p.numel() over model.parameters())
  buffers      batch-norm running statistics (running_mean + running_var elements)
  MACs         multiply-accumulates, counted by fvcore's rules: conv, linear, batch norm (2 per
               element), adaptive average pooling (1 per input element), upsampling; relu, add
               and max pooling are free. Equal to fvcore FlopCountAnalysis(model.eval(), x).total().
  FLOPs        2 x MACs
  depth        conv + linear layers on the longest input-to-output path (ResNet-50: 50)
"""


def _shape(text: str) -> tuple[int, ...]:
    """``--input``: CxHxW (or C, or CxL), sizes from 1 to 2**48."""
    parts = text.lower().split("x")
    if not 1 <= len(parts) <= 3 or not all(p.isascii() and p.isdigit() and len(p) <= 15 for p in parts):
        raise argparse.ArgumentTypeError(f"'{text}' is not a shape like 3x224x224")
    dims = tuple(int(p) for p in parts)
    if any(not 1 <= d <= NUMBER_LIMIT for d in dims):
        raise argparse.ArgumentTypeError(f"'{text}': sizes go from 1 to 2**48")
    return dims


def _positive(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or len(text) > 15 or int(text) < 1:
        raise argparse.ArgumentTypeError(f"'{text}' is not a positive whole number")
    return int(text)


def _setting(text: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"'{text}' is not KEY=VALUE")
    lowered = raw.strip().lower()
    if lowered in ("true", "false"):
        return key, lowered == "true"
    if not raw.isascii() or "_" in raw:  # int() and float() also read '1_000' and other scripts' digits
        return key, raw.strip()
    for convert in (int, float):
        try:
            return key, convert(raw)
        except ValueError:
            pass
    return key, raw.strip()


def _spec_options(parser: argparse.ArgumentParser) -> None:
    """The options of every command that reads specs."""
    parser.add_argument("--input", type=_shape, metavar="CxHxW",
                        help="input shape, e.g. 3x160x160 (default: the spec's own 'input')")
    parser.add_argument("--set", dest="overrides", metavar="KEY=VALUE", type=_setting, action="append", default=[],
                        help="override a network parameter (repeatable), e.g. --set classes=10")
    parser.add_argument("--max-nodes", type=_positive, default=MAX_NODES, metavar="N",
                        help=f"refuse specs that expand past N nodes (default {MAX_NODES:,})")
    parser.add_argument("--werror", action="store_true",
                        help="treat warnings as errors: print them as errors, exit 1, write nothing")


SPEC_HELP = "a .res file, or the name of a network of the model zoo (resdsl list)"


class _Version(argparse.Action):
    """``--version``: looked up only when asked for (importlib.metadata costs every other command's start)."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> NoReturn:
        print(f"resdsl {version()}")
        parser.exit()


def version() -> str:
    """The installed distribution's version, else (a checkout that is not installed) the package's."""
    from importlib import metadata

    try:
        return metadata.version("resdsl")
    except metadata.PackageNotFoundError:
        from resdsl import __version__

        return __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="resdsl", description="Residual networks as text specs.")
    parser.add_argument("--debug", action="store_true", help="show Python tracebacks")
    parser.add_argument("--version", action=_Version, help="print resdsl's version and exit")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    check = commands.add_parser("check", help="parse and validate specs")
    check.add_argument("specs", nargs="+", metavar="SPEC", help=SPEC_HELP + "; several are checked one by one")
    _spec_options(check)

    stats = commands.add_parser("stats", help="parameters, MACs, FLOPs, memory, depth",
                                epilog=CONVENTIONS, formatter_class=argparse.RawDescriptionHelpFormatter)
    stats.add_argument("spec", metavar="SPEC", help=SPEC_HELP)
    stats.add_argument("--batch", type=_positive, default=1, metavar="N", help="batch size (default 1)")
    stats.add_argument("--by", choices=("stage", "block", "layer"), default="stage", help="rows (default stage)")
    stats.add_argument("--json", action="store_true", help="one JSON object instead of a table")
    stats.add_argument("--exact", action="store_true", help="full integers instead of 25.56M")
    _spec_options(stats)

    compare = commands.add_parser("compare", help="figures of several specs side by side",
                                  description="The figures of two or more specs side by side, each after the "
                                              "first with its ratio\nto the first. --input, --set and --batch "
                                              "apply to every spec.",
                                  epilog=CONVENTIONS, formatter_class=argparse.RawDescriptionHelpFormatter)
    compare.add_argument("specs", nargs="+", metavar="SPEC", help=SPEC_HELP + "; at least two")
    compare.add_argument("--batch", type=_positive, default=1, metavar="N", help="batch size (default 1)")
    compare.add_argument("--exact", action="store_true", help="full integers instead of 25.56M")
    compare.add_argument("--json", action="store_true", help="a JSON list of each spec's stats object")
    _spec_options(compare)

    render = commands.add_parser("render", help="draw the network with Graphviz")
    render.add_argument("spec", metavar="SPEC", help=SPEC_HELP)
    render.add_argument("-o", "--output", required=True, metavar="FILE",
                        help="out.svg, out.png, out.pdf or out.dot (the format follows the extension)")
    render.add_argument("--format", choices=("svg", "png", "pdf", "dot"), help="override the extension")
    render.add_argument("--collapse", choices=("none", "blocks", "stages"),
                        help="one node per layer, per block (identical runs folded) or per stage "
                             "(default: every layer up to 200 nodes, else blocks)")
    render.add_argument("--direction", choices=("TB", "LR"), default="TB", help="top to bottom or left to right")
    render.add_argument("--no-shapes", action="store_true", help="leave tensor shapes off the edges")
    render.add_argument("--dpi", type=_positive, metavar="N",
                        help="pixels per inch of PNG output (default 192, up to 384 to make a narrow diagram "
                             "800 px wide; ResNet-50: 632 to 799 px wide)")
    _spec_options(render)

    compile_ = commands.add_parser("compile", help="build the PyTorch module (imports torch)",
                                   description="Without -o: build the module on the meta device (no memory "
                                               "used) and summarize it. With -o FILE.py: write a standalone "
                                               "PyTorch source file.")
    compile_.add_argument("spec", metavar="SPEC", help=SPEC_HELP)
    compile_.add_argument("-o", "--output", metavar="FILE.py", help="write standalone PyTorch source here")
    _spec_options(compile_)

    zoo = commands.add_parser("list", help="the model zoo: networks to give by name",
                              description="The networks of the model zoo, which every command takes by name "
                                          "(resdsl stats resnet50), with their parameters and MACs at their "
                                          "own input and the source each follows.")
    zoo.add_argument("--json", action="store_true", help="a JSON list instead of a table")
    zoo.add_argument("--exact", action="store_true", help="full integers instead of 25.56M")
    _train_parsers(commands)
    return parser


def _train_parsers(commands: Any) -> None:
    """``train`` and ``plot``: argparse only here; torch is imported when they run."""
    train = commands.add_parser(
        "train", help="train a spec on a dataset read from disk (imports torch)",
        description="Train SPEC on DATA into RUN_DIR: checkpoints last/ and best/ (safetensors weights + the "
                    "optimizer, schedule and RNG states), metrics.jsonl and metrics.csv, TensorBoard scalars when "
                    "tensorboard is installed. Options left out take the dataset's defaults (the papers'). Under "
                    "torchrun (or with --nproc N) the run is DistributedDataParallel, --batch-size being the "
                    "global batch.", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    train.add_argument("spec", nargs="?", metavar="SPEC", help="the network (not needed with --resume)")
    train.add_argument("--data", metavar="DATA",
                       help="digits, synthetic, a cifar-10-batches-py / cifar-100-python folder, or an ImageFolder")
    train.add_argument("--out", metavar="RUN_DIR", help="a new (or empty) run directory")
    train.add_argument("--resume", metavar="RUN_DIR", help="continue this run from its last checkpoint")
    train.add_argument("--epochs", type=_positive, metavar="N", help="passes over the training set")
    train.add_argument("--batch-size", type=_positive, metavar="N", help="the global batch")
    train.add_argument("--optimizer", choices=("sgd", "adamw"), default="sgd", help="SGD with momentum, or AdamW")
    train.add_argument("--lr", type=float, metavar="LR", help="peak learning rate")
    train.add_argument("--momentum", type=float, default=0.9, help="SGD's momentum")
    train.add_argument("--nesterov", action="store_true", help="Nesterov momentum (SGD)")
    train.add_argument("--weight-decay", type=float, metavar="WD", help="on weights only, never biases or norms")
    train.add_argument("--schedule", choices=("cosine", "step", "constant"), help="how the learning rate falls")
    train.add_argument("--milestones", type=_milestones, metavar="E1,E2", help="epochs where step multiplies by gamma")
    train.add_argument("--gamma", type=float, default=0.1, help="what step multiplies the learning rate by")
    train.add_argument("--warmup-epochs", type=float, default=0.0, metavar="E", help="linear warmup")
    train.add_argument("--label-smoothing", type=float, default=0.0, metavar="S", help="in [0, 1)")
    train.add_argument("--precision", choices=("fp32", "bf16", "fp16"), default="fp32",
                       help="autocast to bf16 or fp16 (with loss scaling), or fp32 throughout")
    train.add_argument("--channels-last", action="store_true", help="NHWC memory format for model and images")
    train.add_argument("--compile", action="store_true", help="torch.compile the model")
    train.add_argument("--workers", type=int, default=0, metavar="N", help="data loading processes")
    train.add_argument("--device", default="auto", help="auto, cpu, cuda")
    train.add_argument("--seed", type=int, default=0, help="the random seed: initialization and batches")
    train.add_argument("--init-from", metavar="CKPT", help="start from these weights (.pth read weights_only, or "
                                                           ".safetensors); DDP's module. prefix is stripped")
    train.add_argument("--ignore", action="append", default=[], metavar="GLOB", help="checkpoint keys to skip")
    train.add_argument("--rename", action="append", default=[], metavar="FROM=TO",
                       help="rename checkpoint keys (a regular expression)")
    train.add_argument("--freeze", action="append", default=[], metavar="PATTERN",
                       help="a stage, module path or glob; frozen batch norms keep their running statistics")
    train.add_argument("--sync-bn", action="store_true", help="SyncBatchNorm across processes")
    train.add_argument("--checkpoint-every", type=int, default=0, metavar="STEPS",
                       help="also checkpoint within epochs")
    train.add_argument("--synthetic-size", type=_positive, default=1024, metavar="N",
                       help="images in --data synthetic")
    train.add_argument("--nproc", type=_positive, metavar="N", help="launch N processes with torchrun")
    train.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                       help="a progress bar (default: when stdout is a terminal)")
    _spec_options(train)

    export = commands.add_parser("export", help="the network (with trained weights) as ONNX or torch.export (.pt2)")
    export.add_argument("spec", metavar="SPEC", help=SPEC_HELP)
    export.add_argument("-o", "--output", required=True, metavar="FILE", help="model.onnx or model.pt2")
    export.add_argument("--weights", metavar="W", help="a .safetensors or .pth state_dict (e.g. RUN_DIR/best/"
                                                      "model.safetensors)")
    _spec_options(export)

    importer = commands.add_parser(
        "import", help="a PyTorch model as a spec (imports torch; a .py file given is run)",
        description="Trace a PyTorch model with torch.fx and write it as a spec whose module paths are the "
                    "model's state_dict keys: MODULE:NAME (torchvision.models:resnet50), timm:NAME "
                    "(random weights, never downloaded) or path/to/file.py:NAME (a class or factory; the file "
                    "is run). The spec is checked to lower to the traced graph before it is written.")
    importer.add_argument("model", metavar="MODULE_REF", help="torchvision.models:resnet50, timm:seresnet50 or "
                                                              "models.py:Net")
    importer.add_argument("-o", "--output", metavar="FILE.res", help="write the spec here (default: print it)")
    importer.add_argument("--input", type=_shape, metavar="CxHxW",
                          help="the input shape per sample (default: timm's for its models, else 3x224x224)")
    importer.add_argument("--arg", dest="arguments", action="append", type=_setting, default=[],
                          metavar="KEY=VALUE", help="a keyword argument for the class or factory (repeatable)")

    plot = commands.add_parser("plot", help="loss and accuracy curves of a training run (needs matplotlib)")
    plot.add_argument("run_dir", metavar="RUN_DIR", help="a directory resdsl train wrote")
    plot.add_argument("-o", "--output", required=True, metavar="FILE", help="curves.png, .svg or .pdf")
    plot.add_argument("--dpi", type=_positive, default=120, help="dots per inch of a .png (default 120)")


def _milestones(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not epochs like 82,123") from None


def _load(spec: str, args: argparse.Namespace) -> Network:
    """The network a spec argument (a file or a zoo name) describes, built with the flags."""
    from resdsl import zoo
    from resdsl.network import load

    path = zoo.resolve(spec)
    network = _with_flags(args, lambda input_shape, overrides: load(path, input_shape=input_shape,
                                                                     max_nodes=args.max_nodes, werror=args.werror,
                                                                     **overrides))
    _warn(network)
    return network


def _with_flags(args: argparse.Namespace, build: Callable[[Any, dict[str, Any]], T]) -> T:
    """``build(input_shape, overrides)`` with ``--input`` and ``--set``. A value the network cannot take
    is a usage error that names its flag; a fault in the spec that only the flags bring out is reported
    in the spec, with a note (``args.note``) naming the flags."""
    from resdsl.lower.network import OverrideError

    overrides = dict(args.overrides)
    try:
        return build(args.input, overrides)
    except OverrideError as error:
        flag = f"--input {_shape_text(args.input)}" if error.key is None else \
            f"--set {error.key}={_value_text(overrides.get(error.key))}"
        raise UsageError(f"{flag}: {error.message}", None, error.hint) from None
    except UsageError:
        raise
    except ResdslError:
        args.note = _blame(args, build, overrides)
        raise


def _blame(args: argparse.Namespace, build: Callable[[Any, dict[str, Any]], Any],
           overrides: dict[str, Any]) -> str | None:
    """Which flags turn a spec that builds into one that does not (each try builds the spec again, only
    after a failure); None when the spec fails without them too."""
    given = f"--input {_shape_text(args.input)}" if args.input is not None else ""
    sets = " ".join(f"--set {key}={_value_text(value)}" for key, value in overrides.items())
    tries = []  # (input shape, overrides, the flags left out, what the spec builds with instead)
    if args.input is not None:
        tries.append((None, overrides, given, "at its own input, {own}"))
    if overrides:
        tries.append((args.input, {}, sets, "with its own defaults"))
    if args.input is not None and overrides:
        tries.append((None, {}, f"{given} {sets}", "at its own input, {own}, and with its own defaults"))
    for input_shape, settings, flags, instead in tries:
        try:
            built = build(input_shape, settings)
        except ResdslError:
            continue
        own = getattr(built, "input_shape", None)
        return f"this comes from {flags}: the spec builds {instead.format(own=_shape_text(own or ()))}"
    return None


def _shape_text(shape: Sequence[int]) -> str:
    return "x".join(map(str, shape))


def _value_text(value: Any) -> str:
    """A ``--set`` value as it was written (``true``, ``1.5``, ``pad``)."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def _warn(network: Network) -> None:
    """A network's warnings on stderr, as diagnostics: they never change the exit code (``--werror``
    makes loading raise them as errors instead)."""
    for warning in network.warnings:
        print(format_diagnostic(warning, network.sources, "warning"), file=sys.stderr)


def _check_one(spec: str, args: argparse.Namespace) -> Network | tuple[str, ...]:
    from resdsl import zoo
    from resdsl.network import check

    path = zoo.resolve(spec)
    return _with_flags(args, lambda input_shape, overrides: check(
        path, input_shape=input_shape, max_nodes=args.max_nodes, werror=args.werror, **overrides))


def _check(args: argparse.Namespace) -> int:
    """Every file is checked, whatever happens to the others; the exit code is the worst outcome."""
    for path in args.specs:
        args.note = None
        try:
            network = _check_one(path, args)
        except UsageError as error:
            args.outcome = max(args.outcome, 2)
            _usage(args, error)
            continue
        except ResdslError as error:
            if args.debug:
                raise
            args.outcome = max(args.outcome, 1)
            _report(error, args.note)
            continue
        if isinstance(network, tuple):
            print(f"{path}: library ok: {len(network)} block{'s' if len(network) != 1 else ''} "
                  f"({', '.join(network)}), no network")
            continue
        _warn(network)
        shape = "x".join(map(str, network.input_shape))
        shapes = network.output_shapes
        out = "x".join(map(str, network.output_shape)) if len(shapes) == 1 else \
            ", ".join(f"{name} {'x'.join(map(str, shape))}" for name, shape in shapes.items())
        print(f"{printable(path)}: {network.name} ok: {shape} → {out}, {len(network.graph)} nodes")
    return args.outcome


def _json(value: object) -> str:
    """JSON with every digit: a path count is 2**n for n residual units, past Python's default
    limit of 4,300 digits for int → str from about 14,300 units."""
    import json  # only --json needs it: 3 ms of every other command's start

    limit = getattr(sys, "get_int_max_str_digits", lambda: None)()
    if limit is not None:
        sys.set_int_max_str_digits(0)
    try:
        return json.dumps(value, indent=2)
    finally:
        if limit is not None:
            sys.set_int_max_str_digits(limit)


def _stats(args: argparse.Namespace) -> int:
    from resdsl.backends.table import stats_table

    stats = _load(args.spec, args).stats(None, args.batch)
    print(_json(stats.to_dict()) if args.json else stats_table(stats, args.by, args.exact))
    return 0


def _compare(args: argparse.Namespace) -> int:
    from resdsl.backends.table import compare_table

    if len(args.specs) < 2:
        raise UsageError("compare needs at least two specs")
    all_stats = [_load(path, args).stats(None, args.batch) for path in args.specs]
    if args.json:
        print(_json([s.to_dict() for s in all_stats]))
    else:
        print(compare_table(all_stats, args.exact))
    return 0


def _render(args: argparse.Namespace) -> int:
    from resdsl.backends.graphviz import FORMATS, render
    from resdsl.output import check_writable, write_file

    output = Path(args.output)
    fmt = args.format or output.suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        raise UsageError(f"-o {output}: cannot tell the format; use .svg, .png, .pdf or .dot (or --format)")
    check_writable(output)
    network = _load(args.spec, args)
    data = render(network.graph, fmt, collapse=args.collapse, direction=args.direction, shapes=not args.no_shapes,
                  dpi=args.dpi)
    write_file(output, data)
    print(f"wrote {printable(str(output))}")
    return 0


def _compile(args: argparse.Namespace) -> int:
    if args.output is not None:
        from resdsl.output import check_writable, write_file

        output = Path(args.output)
        if output.suffix != ".py":
            raise UsageError(f"-o {output}: write Python source to a .py file")
        check_writable(output)
        network = _load(args.spec, args)
        write_file(output, network.to_source().encode("utf-8"))
        from resdsl.backends.torch_source import class_name

        print(f"wrote {printable(str(output))}: class {class_name(network.name)}, "
              f"{network.stats().params:,} parameters")
        return 0
    network = _load(args.spec, args)
    from resdsl.backends.torch_module import require_torch

    try:
        require_torch()
    except ImportError as error:  # not the spec's fault: the environment's, told like a usage error
        raise UsageError(str(error)) from None
    import torch

    from resdsl.backends.torch_tools import summary

    with torch.device("meta"):
        model = network.to_module()
    print(f"{network.name}: torch.fx.GraphModule, built on the meta device (no memory used)")
    print(summary(model))
    return 0


def _train(args: argparse.Namespace) -> int:
    if args.resume and (args.out or args.data or args.spec):
        raise UsageError("--resume RUN_DIR continues a run with the spec, data and options it was started with",
                         hint="give only --resume (and --epochs to train longer)")
    if not args.resume and not (args.spec and args.data and args.out):
        raise UsageError("train needs SPEC, --data and --out (or --resume RUN_DIR)",
                         hint="resdsl train examples/digits_resnet.res --data digits --out runs/digits")
    import torch

    from resdsl.training import Options, train
    from resdsl.training.engine import plan

    options = Options(
        epochs=args.epochs, batch_size=args.batch_size, optimizer=args.optimizer, lr=args.lr, momentum=args.momentum,
        nesterov=args.nesterov, weight_decay=args.weight_decay, schedule=args.schedule, milestones=args.milestones,
        gamma=args.gamma, warmup_epochs=args.warmup_epochs, label_smoothing=args.label_smoothing,
        precision=args.precision, channels_last=args.channels_last, compile=args.compile, workers=args.workers,
        device=args.device, seed=args.seed, init_from=args.init_from, ignore=tuple(args.ignore),
        rename=tuple(args.rename), freeze=tuple(args.freeze), sync_bn=args.sync_bn,
        checkpoint_every=args.checkpoint_every, synthetic_size=args.synthetic_size, progress=args.progress)
    run_dir = args.resume or args.out
    if args.nproc:  # everything checked here first: a fault is one error, not one per process
        gpu = args.device in ("auto", "cuda") and torch.cuda.is_available()
        plan(args.spec, args.data, Path(run_dir), options, resume=bool(args.resume), input_shape=args.input,
             overrides=dict(args.overrides), world_size=args.nproc, device_type="cuda" if gpu else "cpu")
        return _launch(args)
    if os.environ.get("OMP_NUM_THREADS") is None and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // int(os.environ["WORLD_SIZE"])))
    if args.resume:
        result = train(None, None, args.resume, options, resume=True)
    else:
        result = train(args.spec, args.data, args.out, options, input_shape=args.input,
                       overrides=dict(args.overrides))
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"done: {result.epochs} epochs, held-out top-1 {result.metrics.get('val_top1', 0):.2%} "
              f"(best {result.best_top1:.2%}); checkpoints in {printable(str(result.run_dir))}")
    return 0


def _launch(args: argparse.Namespace) -> int:
    """``--nproc N``: this same command under torchrun's launcher (``--nproc-per-node N --standalone``),
    run in this process so that a failed worker is reported in one line: each worker has already
    printed its own error."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import get_args_parser
    from torch.distributed.run import run as torchrun

    argv = list(sys.argv[1:]) if args.argv is None else list(args.argv)
    index = next(i for i, a in enumerate(argv) if a == "--nproc" or a.startswith("--nproc="))
    del argv[index: index + (1 if "=" in argv[index] else 2)]
    launch = get_args_parser().parse_args(["--nproc-per-node", str(args.nproc), "--standalone", "-m", "resdsl",
                                           *argv])
    try:
        torchrun(launch)
    except ChildFailedError as error:
        codes = sorted({failure.exitcode for failure in error.failures.values()})
        print(f"resdsl train: {len(error.failures)} of {args.nproc} processes failed "
              f"(exit code {', '.join(map(str, codes))})", file=sys.stderr)
        return max(codes) if all(0 < code <= 2 for code in codes) else 1
    return 0


def _export(args: argparse.Namespace) -> int:
    from resdsl.backends.export import export

    network = _load(args.spec, args)
    difference = export(network, args.output, args.weights)
    checker = "onnxruntime" if args.output.endswith(".onnx") else "torch.export.load"
    print(f"wrote {printable(args.output)}: outputs within {difference:.1e} of PyTorch's (checked with {checker})")
    return 0


def _import(args: argparse.Namespace) -> int:
    from resdsl.importing import import_module
    from resdsl.importing.load import build

    output = Path(args.output) if args.output else None
    if output is not None:
        from resdsl.output import check_writable

        if output.suffix != ".res":
            raise UsageError(f"-o {output}: write a spec to a .res file")
        check_writable(output)
    model, name, stated = build(args.model, dict(args.arguments))
    shape = args.input or stated or (3, 224, 224)
    from resdsl import __version__

    header = [f"# Imported by resdsl {__version__} from {args.model.encode('unicode_escape').decode('ascii')} "
              f"(input {_shape_text(shape)})"]
    imported = import_module(model, shape, name, header)
    if output is None:
        print(imported.text, end="")
        return 0
    from resdsl.output import write_file

    write_file(output, imported.text.encode("utf-8"))
    seconds = imported.seconds
    print(f"wrote {printable(str(output))}: {name} written with {imported.level} "
          f"(traced in {seconds['trace']:.2f} s, written and checked in {seconds['write']:.2f} s)")
    if imported.renamed:
        print(printable("names the language cannot write were renamed; load the model's checkpoints with "
                        f"resdsl.load_weights(model, path, rename={imported.renamed!r})"))
    return 0


def _plot(args: argparse.Namespace) -> int:
    from resdsl.training.plot import plot

    written = plot(args.run_dir, args.output, args.dpi)
    print(f"wrote {printable(str(written))}")
    return 0


def _list(args: argparse.Namespace) -> int:
    from resdsl import zoo

    entries = zoo.catalog()
    if args.json:
        print(_json([entry.to_dict() for entry in entries]))
    else:
        from resdsl.backends.table import zoo_table

        print(zoo_table(entries, args.exact))
    return 0


def _report(error: ResdslError, note: str | None = None) -> None:
    """A fault in a spec, and where the flags brought it out, a note that says so."""
    print(format_report(error), file=sys.stderr)
    if note:
        print(printable(f"note: {note}"), file=sys.stderr)


def _usage(args: argparse.Namespace, error: UsageError) -> None:
    if args.debug:
        raise error
    print(printable(f"resdsl {args.command}: error: {error.message}"), file=sys.stderr)
    if error.hint:
        print(printable(f"hint: {error.hint}"), file=sys.stderr)


COMMANDS = {"check": _check, "stats": _stats, "compare": _compare, "render": _render, "compile": _compile,
            "train": _train, "plot": _plot, "export": _export, "list": _list, "import": _import}


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns its exit code. The exit code tells what the command found even when
    its output cannot be delivered (a reader that closed the pipe early, as ``| head -1`` does)."""
    _tolerate_encodings()
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = None if argv is None else list(argv)
    args.outcome = 0  # the exit code so far: commands raise it before they print a failure
    args.note = None  # what the flags had to do with a fault in a spec (see _with_flags)
    try:
        try:
            args.outcome = max(args.outcome, COMMANDS[args.command](args))
        except UsageError as error:
            args.outcome = 2
            _usage(args, error)
        except ResdslError as error:
            args.outcome = max(args.outcome, 1)
            if args.debug:
                raise
            _report(error, args.note)
        if sys.stdout is not None:
            sys.stdout.flush()
    except BrokenPipeError:  # the reader stopped early: what the command found still decides
        _discard_output(sys.stdout, sys.stderr)
    except OSError as error:  # output that cannot be written (a full disk): not the spec's fault
        _discard_output(sys.stdout)
        if args.debug:
            raise
        args.outcome = 2
        with contextlib.suppress(OSError, AttributeError):
            print(f"resdsl {args.command}: error: cannot write the output: {error.strerror or error}", file=sys.stderr)
    return args.outcome


def _tolerate_encodings() -> None:
    """Print what the terminal's encoding can show (``?`` for the rest: ``→``, ``×`` under
    ``PYTHONIOENCODING=ascii``) rather than die with UnicodeEncodeError."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="replace")


def _discard_output(*streams: Any) -> None:
    """After a failed write, send what is still buffered nowhere, so that exit does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        for stream in streams:
            os.dup2(devnull, stream.fileno())
    except (OSError, ValueError, AttributeError):  # no file descriptors (captured streams)
        pass


def run() -> NoReturn:
    """The ``resdsl`` console script: :func:`main` as a process that does one command and exits.

    A networkx graph is a reference cycle (through the views it caches), so only the cyclic garbage
    collector frees one, and it walks every live object while doing so: at interpreter exit, 3.5 s
    for a 700,000-node network. A one-shot process needs none of that: the collector stays off, and
    what is left at the end is frozen out of the final collection; the operating system reclaims it.
    """
    gc.disable()
    try:
        code = main()
    finally:
        gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    run()
