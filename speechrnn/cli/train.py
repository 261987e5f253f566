"""``speechrnn train``: train an RNN / LSTM / GRU classifier on folders or Speech Commands.

Examples:

    speechrnn train --data speech-commands:v2 --task 12 --cell gru --hidden 128 --layers 2 --epochs 30 --out runs/gru12
    speechrnn train --data path/to/folder --words yes,no,up,down --out runs/mine
    speechrnn train --data my_words --words lights --init-from commands --out runs/lights   # a word of your own
    speechrnn train --data my_takes --words zero,one,two,three,four,five,six,seven,eight,nine --init-from digits \
        --out runs/digits-me                            # the digits model adapted to your voice
    speechrnn train --resume --out runs/gru12          # continue an interrupted run
    torchrun --nproc_per_node=2 -m speechrnn train ...  # data-parallel (same options)

The first Ctrl-C (or a SIGTERM) stops after the current batch and saves a resumable ``last.pt``;
a second Ctrl-C aborts at once.
"""

from __future__ import annotations

import argparse

# Feature options shared with `evaluate` (there: only to check a checkpoint's features).
FEATURE_OPTIONS = {  # option -> (FeatureConfig field, type, help)
    "--kind": ("kind", str, "mfcc or logmel (default mfcc)"),
    "--n-mfcc": ("n_mfcc", int, "MFCC coefficients (default 40)"),
    "--n-mels": ("n_mels", int, "mel bands (default 40)"),
    "--window-ms": ("window_ms", float, "analysis window in ms (default 25)"),
    "--hop-ms": ("hop_ms", float, "frame hop in ms (default 10)"),
    "--n-fft": ("n_fft", int, "FFT size (default 512)"),
    "--f-min-hz": ("f_min_hz", float, "lowest mel frequency (default 20)"),
    "--f-max-hz": ("f_max_hz", float, "highest mel frequency (default 7600)"),
    "--clip-ms": ("clip_ms", int, "clip length in ms; clips are padded/cropped to it (default 1000)"),
}
NEGATIVE_MODES = ("bundled", "none")
SYNTH_FOLDER = "synthetic-voices"  # in the run folder: the voices saying --words (--synth-voices)
DEFAULT_EPOCHS = 30  # a dataset's long epochs; a custom word's short ones: speechrnn.custom_word
DEFAULT_CLASS_PCT = 10.0  # _silence_ / _unknown_ examples as a share of the words (Speech Commands' 10 %)
DEFAULT_OUT_HELP = "run folder: checkpoints, metrics.jsonl, curves.png, config.json (required)"


def add_feature_arguments(parser: argparse.ArgumentParser, title: str) -> None:
    group = parser.add_argument_group(title)
    for option, (_field, kind, help_text) in FEATURE_OPTIONS.items():
        group.add_argument(option, type=kind, default=None, help=help_text,
                           **({"choices": ("mfcc", "logmel")} if option == "--kind" else {}))


def feature_overrides(args: argparse.Namespace) -> dict:
    """The feature options given on the command line, as FeatureConfig fields."""
    out = {}
    for option, (field, _kind, _help) in FEATURE_OPTIONS.items():
        value = getattr(args, option.lstrip("-").replace("-", "_"))
        if value is not None:
            out[field] = value
    return out


def parse_words(text: str | None) -> tuple[str, ...] | None:
    if not text:
        return None
    words = tuple(w.strip() for w in text.split(",") if w.strip())
    return words or None


def register(subparsers: argparse._SubParsersAction, name: str, help_text: str) -> None:
    parser = subparsers.add_parser(
        name, help=help_text, formatter_class=argparse.RawDescriptionHelpFormatter,
        description=__doc__.split("\n\n", 1)[0].split(": ", 1)[1] + "\n\n" + __doc__.split("\n\n", 1)[1])
    data = parser.add_argument_group("data")
    data.add_argument("--data", action="append", metavar="SOURCE",
                      help="folder in Speech Commands layout (ROOT/<label>/*.wav) or speech-commands:v1|v2; "
                           "repeat to combine sources")
    data.add_argument("--task", choices=("12", "35", "digits"),
                      help="12: ten words + _silence_ + _unknown_; 35: every word; digits: zero..nine "
                           "(FSDD's 0..9 folders included). Default: every label folder is a class")
    data.add_argument("--words", help="comma-separated vocabulary, e.g. yes,no,up,down (others -> _unknown_)")
    data.add_argument("--silence", action=argparse.BooleanOptionalAction, default=None,
                      help="a _silence_ class (default: on with the stream objective, for --task 12 and for "
                           "--words; else off)")
    data.add_argument("--unknown", action=argparse.BooleanOptionalAction, default=None,
                      help="an _unknown_ class of the other words (default: on for --task 12 and --words)")
    data.add_argument("--silence-pct", type=float, default=None,
                      help="silence examples, %% of words (default 10; with --words about one word's worth: "
                           "100 / words, 10-100)")
    data.add_argument("--unknown-pct", type=float, default=None,
                      help="unknown examples, %% of words (default 10, with --words as --silence-pct; 500 with "
                           "--negatives bundled)")
    data.add_argument("--validation-pct", type=float, default=10.0, help="speakers held out for validation (default 10)")
    data.add_argument("--testing-pct", type=float, default=10.0, help="speakers held out for testing (default 10)")
    data.add_argument("--noise-dir", action="append", default=[], metavar="DIR",
                      help="extra background-noise recordings (besides each source's _background_noise_/); "
                           "default: the bundled noise (assets/noise: dishes, tap, babble, hum, ...)")
    data.add_argument("--bundled-noise", action=argparse.BooleanOptionalAction, default=None,
                      help="mix in the bundled noise (default: on unless --noise-dir is given)")
    data.add_argument("--negatives", choices=NEGATIVE_MODES, default=None,
                      help="other words for _unknown_ with --words: bundled = the bundled Speech Commands clips "
                           "(assets/negatives) + similar-sounding words spoken by the local voices; none = only "
                           "the other words of --data (default: bundled with --words)")
    data.add_argument("--confusables", type=int, default=None, metavar="N",
                      help="similar-sounding words per word of --words, e.g. nights/likes for lights "
                           "(default 24 with --negatives bundled, 0 = none; 0 when adapting a model, see --init-from)")
    data.add_argument("--synth-voices", type=int, default=None, metavar="N",
                      help="synthetic voices saying each word of --words (every installed espeak-ng / flite voice, "
                           "varied), rendered into OUT/" + SYNTH_FOLDER + ", and a quarter as many saying 25 other "
                           "words for _unknown_ (default 40 with --words where a voice is installed, as the Train "
                           "panel: measured on real strangers, docs/custom-words.md; 0 = none; 0 when adapting a model, see "
                           "--init-from)")
    data.add_argument("--data-dir", metavar="DIR", help="where speech-commands:* live / are downloaded")
    data.add_argument("--cache-dir", metavar="DIR", help="decoded-audio cache (default: <data dir>/cache)")

    add_feature_arguments(parser, "features")

    model = parser.add_argument_group("model")
    model.add_argument("--cell", choices=("gru", "lstm", "rnn"), default=None,
                       help="recurrent cell (default gru, or the --init-from model's)")
    model.add_argument("--hidden", type=int, default=None,
                       help="hidden units per layer (default 128, or the --init-from model's)")
    model.add_argument("--layers", type=int, default=None, help="stacked layers (default 2, or the --init-from model's)")
    model.add_argument("--spectral-conv", type=int, default=None, metavar="CHANNELS", dest="spectral_conv_channels",
                       help="a convolution along each frame's mel bands before the RNN, with this many channels "
                            "(16 in the bundled Commands model; measured: more words heard by new voices, fewer "
                            "other words taken for them); 0 = none (default: 16 for a new network on MFCC, as "
                            "the Train panel; 0 on log-mel; the --init-from model's)")
    model.add_argument("--dropout", type=float, default=0.1, help="dropout between layers and before the head (default 0.1)")
    model.add_argument("--bidirectional", action="store_true", help="bidirectional (offline only, no live use)")
    model.add_argument("--pooling", choices=("last", "mean", "attention"), default="attention",
                       help="how frame outputs become a clip decision (default attention: learned weights "
                            "over all frames; last: the final state only, the hardest test of memory)")
    model.add_argument("--nonlinearity", choices=("tanh", "relu"), default="tanh", help="vanilla RNN only")

    augment = parser.add_argument_group("augmentation")
    augment.add_argument("--no-noise", action="store_true", help="no background-noise mixing")
    augment.add_argument("--no-shift", action="store_true", help="no random time shift")
    augment.add_argument("--no-specaugment", action="store_true", help="no SpecAugment masks")
    augment.add_argument("--no-room", action="store_true",
                         help="no simulated room reverberation and microphone tilt (default: half the clips)")
    augment.add_argument("--no-gain", action="store_true", help="no random loudness change (default -12..+12 dB)")
    augment.add_argument("--speed", action="store_true",
                         help="speed perturbation: spoken clips played 0.9..1.1 times as fast (default off)")
    augment.add_argument("--speed-min", type=float, default=None, help="slowest playing speed (default 0.9)")
    augment.add_argument("--speed-max", type=float, default=None, help="fastest playing speed (default 1.1)")
    augment.add_argument("--vtlp", action="store_true",
                         help="vocal-tract length perturbation: formants moved 0.9..1.1 times, pitch and pace kept "
                              "(default off)")
    augment.add_argument("--vtlp-min", type=float, default=None, help="lowest vocal-tract warp (default 0.9)")
    augment.add_argument("--vtlp-max", type=float, default=None, help="highest vocal-tract warp (default 1.1)")
    augment.add_argument("--room-prob", type=float, default=None, help="share of clips played into a room (default 0.5)")
    augment.add_argument("--noise-prob", type=float, default=None, help="share of clips that get noise (default 0.8)")
    augment.add_argument("--snr-db-min", type=float, default=None, help="lowest mixing SNR in dB (default 0)")
    augment.add_argument("--snr-db-max", type=float, default=None, help="highest mixing SNR in dB (default 20)")
    augment.add_argument("--shift-ms", type=float, default=None, help="largest time shift in ms (default 100)")

    optim = parser.add_argument_group("training")
    optim.add_argument("--epochs", type=int, default=None,
                       help=f"passes over the training clips (default {DEFAULT_EPOCHS}; with --words and no "
                            "speech-commands:* source: 100, or 150 with --init-from: short epochs of a few "
                            "hundred clips)")
    optim.add_argument("--batch-size", type=int, default=256,
                       help="clips per optimizer step (default 256; smaller for small data, see --min-steps)")
    optim.add_argument("--min-steps", type=int, default=None, metavar="N",
                       help="shrink the batch so that an epoch has at least N steps (default 20, 0 = never)")
    optim.add_argument("--lr", type=float, default=None, help="peak learning rate (default 3e-3)")
    optim.add_argument("--weight-decay", type=float, default=None, help="AdamW weight decay (default 0.01)")
    optim.add_argument("--warmup-epochs", type=float, default=None, help="linear warmup (default 1)")
    optim.add_argument("--label-smoothing", type=float, default=0.0, help="0 = off (default 0)")
    optim.add_argument("--grad-clip", type=float, default=None, help="max gradient norm, 0 = off (default 1)")
    optim.add_argument("--balance-sources", action="store_true",
                       help="within each class, draw every --data source's clips equally often (a small "
                            "source with many speakers then counts as much as a large one)")
    optim.add_argument("--source-adversary", type=float, default=None, metavar="W", dest="source_adversary_weight",
                       help="stream objective, experimental: a source adversary guesses which --data folder each "
                            "word came from and its gradient, reversed up to W, teaches the network to hide it "
                            "(words, not microphones); default 0 = off")
    optim.add_argument("--distill-from", default=None, metavar="MODEL",
                       help="stream objective: also learn to match this stream-trained model's posteriors at "
                            "every frame (a single network learning what an ensemble hears; same words and "
                            "features)")
    optim.add_argument("--distill-weight", type=float, default=None, metavar="W",
                       help="with --distill-from: weight of matching the teacher beside the usual loss (default 1)")
    optim.add_argument("--distill-temperature", type=float, default=None, metavar="T",
                       help="with --distill-from: softening of both posteriors before they are compared (default 2)")
    optim.add_argument("--gate-init", choices=("auto", "pytorch", "chrono"), default=None,
                       help="chrono: LSTM/GRU gate biases that keep state for up to a clip's length "
                            "(much faster LSTM training with 'last' pooling); pytorch: PyTorch's; default auto: "
                            "chrono with 'last' pooling, else pytorch")
    optim.add_argument("--keep", choices=("auto", "best", "final"), default=None,
                       help="the weights best.pt keeps: best (highest validation accuracy), final (the last "
                            "epoch's), default auto: final when there are too few validation clips to tell "
                            "epochs apart (under 300), else best")
    optim.add_argument("--objective", choices=("stream", "clip"), default=None,
                       help="stream (default): learn on continuous audio with a target at every frame and the "
                            "state carried across segments, as live recognition runs; clip: one label per 1 s "
                            "clip from a fresh state")
    optim.add_argument("--stream-loss", choices=("ce", "max"), default=None,
                       help="stream objective: cross-entropy at every frame (ce, default) or only each word's "
                            "best frame in its window (max)")
    optim.add_argument("--stream-segment-s", type=float, default=None,
                       help="stream objective: seconds of audio per lane and step (default 3)")
    optim.add_argument("--init-from", default=None, metavar="MODEL",
                       help="start from this model's weights (a checkpoint, or a bundled model: digits, "
                            "commands) with a new learning-rate schedule; the run takes its network and "
                            "features. On its labels: train a finished run further; on other words: its "
                            "network and a new head (a custom word learns from a network that has heard "
                            "many voices); a bundled model with --words that are all its words: adapts it to the "
                            "voices of your takes (40 epochs at lr 0.001, no synthetic voices or similar words)")
    optim.add_argument("--frozen-layers", type=int, default=None, metavar="N",
                       help="with --init-from: the N lowest recurrent layers keep its weights, only the layers "
                            "above and the head learn (default 0: all learn)")
    optim.add_argument("--seed", type=int, default=0, help="seed of the split, initialisation and batches (default 0)")
    optim.add_argument("--device", default="auto",
                       help="auto (cuda > mps > cpu), cpu, cuda, cuda:N, mps (default auto)")
    optim.add_argument("--threads", type=int, default=0, help="CPU threads (default: all cores)")
    optim.add_argument("--precision", choices=("float32", "bfloat16", "auto"), default=None,
                       help="CPU matrix products: float32, bfloat16 (mixed precision), or auto "
                            "(bfloat16 on CPUs with AMX bfloat16 units, else float32); default auto")

    run = parser.add_argument_group("run")
    run.add_argument("--out", required=True, metavar="DIR", help=DEFAULT_OUT_HELP)
    run.add_argument("--resume", action="store_true", help="continue the interrupted run in --out")
    run.add_argument("--force", action="store_true", help="replace a run already in --out")
    run.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(func=run_command, parser=parser)


def _configs(args: argparse.Namespace):
    import dataclasses
    import os
    import sys

    from speechrnn.bundled import bundled_name, resolve_model
    from speechrnn.custom_word import DETECTION_THRESHOLD, class_share_pct
    from speechrnn.data.augment import AugmentConfig
    from speechrnn.data.spec import DataSpec
    from speechrnn.features import FeatureConfig
    from speechrnn.model import ModelConfig, new_network_front_end
    from speechrnn.training import TrainConfig
    from speechrnn.training.base_network import base_network
    from speechrnn.voice_adaptation import ADAPT_LR, adaptation_note, adapts

    words = parse_words(args.words)
    base = base_network(args.init_from) if args.init_from else None
    adapting = base is not None and adapts(words or (), base)
    if adapting and int(os.environ.get("RANK", "0")) == 0:
        print(f"note: {adaptation_note(base.bundled, words)}", file=sys.stderr)
    silence = args.silence
    if silence is None and (args.objective or TrainConfig.objective) == "stream":
        silence = True  # the stream objective's background class: what every frame outside a word is
    share = class_share_pct(len(words)) if words else DEFAULT_CLASS_PCT  # a few words: one word's worth
    synth = synth_plan(args, words, adapting)
    data = DataSpec(
        sources=tuple(args.data) + ((str(synth.out_dir),) if synth else ()), task=args.task, words=words,
        include_silence=silence, include_unknown=args.unknown,
        silence_pct=args.silence_pct if args.silence_pct is not None else share,
        unknown_pct=args.unknown_pct if args.unknown_pct is not None else share,
        validation_pct=args.validation_pct, testing_pct=args.testing_pct,
        noise_dirs=tuple(args.noise_dir), data_dir=args.data_dir, seed=args.seed,
    )
    if not 0 <= args.dropout < 1:
        raise ValueError(f"--dropout must be within [0, 1) (a share of units dropped), not {args.dropout:g}")
    features = dataclasses.replace(base.features if base else FeatureConfig(), **feature_overrides(args))
    defaults = base.model if base else ModelConfig  # the class attributes are the defaults
    body = {name: getattr(args, name) if getattr(args, name) is not None else getattr(defaults, name)
            for name in ("cell", "hidden", "layers", "spectral_conv_channels")}
    if base is None and args.spectral_conv_channels is None:
        body["spectral_conv_channels"] = new_network_front_end(features)  # as the Train panel's new network
    model = ModelConfig(num_classes=2, input_dim=features.feature_dim, spectral_bands=features.n_mels,
                        dropout=args.dropout, bidirectional=args.bidirectional, pooling=args.pooling,
                        nonlinearity=args.nonlinearity, **body)
    augment = {"noise": not args.no_noise, "shift": not args.no_shift, "spec_augment": not args.no_specaugment,
               "room": not args.no_room, "gain": not args.no_gain, "speed": args.speed,
               "vtlp": args.vtlp}
    for name in ("noise_prob", "snr_db_min", "snr_db_max", "shift_ms", "room_prob", "speed_min", "speed_max",
                 "vtlp_min", "vtlp_max"):
        if getattr(args, name) is not None:
            augment[name] = getattr(args, name)
    train = {"epochs": args.epochs if args.epochs is not None else default_epochs(args, words, adapting),
             "batch_size": args.batch_size, "label_smoothing": args.label_smoothing,
             "seed": args.seed, "device": args.device, "threads": args.threads,
             "balance_sources": args.balance_sources}
    for name in ("lr", "weight_decay", "warmup_epochs", "grad_clip", "precision", "min_steps", "gate_init",
                 "objective", "stream_loss", "stream_segment_s", "keep", "frozen_layers", "source_adversary_weight",
                 "distill_weight", "distill_temperature"):
        if getattr(args, name) is not None:
            train[name] = getattr(args, name)
    if args.distill_from:
        train["distill_from"] = str(resolve_model(args.distill_from))  # a bundled name or a file
    if adapting and args.lr is None:
        train["lr"] = ADAPT_LR
    if base is not None:
        train["init_from"] = str(base.path)
        if adapting:
            train["detection_threshold"] = base.detection_threshold  # the model's own, as it was shipped
        elif words and (args.negatives or "bundled") == "bundled" and bundled_name(base.path):
            train["detection_threshold"] = DETECTION_THRESHOLD  # a custom word as measured: the panel's
    config = dataclasses.replace(TrainConfig(), **train)
    return data, features, model, AugmentConfig(**augment), config, synth, negatives_config(args, words, adapting)


def default_epochs(args: argparse.Namespace, words: tuple[str, ...] | None, adapting: bool = False) -> int:
    """A dataset's epochs, or (words of your own, no Speech Commands) the many short epochs of a few
    hundred clips, or an adaptation's: as the Train panel suggests."""
    from speechrnn.custom_word import small_data_epochs
    from speechrnn.data.spec import is_speech_commands_source
    from speechrnn.voice_adaptation import ADAPT_EPOCHS

    if not words or any(is_speech_commands_source(str(source)) for source in args.data or ()):
        return DEFAULT_EPOCHS
    return ADAPT_EPOCHS if adapting else small_data_epochs(bool(args.init_from))


def synth_plan(args: argparse.Namespace, words: tuple[str, ...] | None, adapting: bool = False):
    """The synthetic voices of ``--words`` to render into the run folder (a SynthPlan), or None;
    SpeechRNNError on a contradiction. By default (``--synth-voices`` not given) the Train panel's
    number of voices with ``--words`` where a synthesizer is installed, else none (with a note);
    none when the run adapts a model to new voices (:mod:`speechrnn.voice_adaptation`)."""
    import os
    import sys
    from pathlib import Path

    from speechrnn.custom_word import SYNTH_VOICES_PER_WORD, SynthPlan
    from speechrnn.errors import SpeechRNNError
    from speechrnn.synth import find_engines, no_engine_message
    from speechrnn.voice_adaptation import ADAPT_SYNTH_VOICES

    per_word = args.synth_voices
    processes = int(os.environ.get("WORLD_SIZE", "1"))  # torchrun: every process would render into one folder
    one_process = ("under torchrun the voices are not rendered: render them first (speechrnn synth --words ... "
                   "--per-word N --out DIR) and add DIR to --data")
    if per_word is not None and per_word < 0:
        raise SpeechRNNError(f"--synth-voices must be 0 or more, not {per_word}")
    if per_word and not words:
        raise SpeechRNNError("--synth-voices speaks the words of --words: give --words")
    if per_word and not find_engines():
        raise SpeechRNNError(f"--synth-voices: {no_engine_message()}")
    if per_word and processes > 1:
        raise SpeechRNNError(f"--synth-voices: {one_process}")
    if per_word is None and adapting:
        per_word = ADAPT_SYNTH_VOICES
    if per_word is None and words:
        per_word = SYNTH_VOICES_PER_WORD if find_engines() and processes == 1 else 0
        if not per_word and int(os.environ.get("RANK", "0")) == 0:
            why = no_engine_message() if processes == 1 else one_process
            print(f"note: training without synthetic voices: {why}", file=sys.stderr)
    if not per_word:
        return None
    unheard = words_without_clips(args.data or [], words)
    if unheard:
        print(f"note: no clips of {', '.join(unheard)} in --data: learned from the synthetic voices alone "
              "(a typo? record takes: speechrnn record)", file=sys.stderr)
    return SynthPlan.for_words(words, per_word, Path(args.out) / SYNTH_FOLDER, unknown=args.unknown is not False)


def words_without_clips(sources: list[str], words: tuple[str, ...]) -> list[str]:
    """The words of ``words`` with no label folder in any of the local folders ``sources`` ([] when
    one of them is Speech Commands, whose words are checked when it is read)."""
    from pathlib import Path

    from speechrnn.data.layout import is_label_dir
    from speechrnn.data.spec import is_speech_commands_source

    if any(is_speech_commands_source(str(source)) for source in sources):
        return []
    present = {path.name for source in sources if Path(source).is_dir()
               for path in Path(source).iterdir() if is_label_dir(path)}
    return [word for word in words if word not in present]


def negatives_config(args: argparse.Namespace, words: tuple[str, ...] | None, adapting: bool = False):
    """What ``--negatives``/``--confusables``/``--bundled-noise`` add (no similar words by default when
    the run adapts a model to new voices); SpeechRNNError on contradictions."""
    from speechrnn.errors import SpeechRNNError
    from speechrnn.negatives import NegativesConfig
    from speechrnn.voice_adaptation import ADAPT_CONFUSABLES

    mode = args.negatives or ("bundled" if words else "none")
    if mode == "bundled" and not words:
        raise SpeechRNNError("--negatives bundled adds other words to a vocabulary of your own: give --words")
    if args.confusables is not None and args.confusables < 0:
        raise SpeechRNNError(f"--confusables must be 0 or more, not {args.confusables}")
    if args.confusables and mode == "none":
        raise SpeechRNNError("--confusables needs --negatives bundled (and --words)")
    if args.bundled_noise and args.no_noise:
        raise SpeechRNNError("--bundled-noise and --no-noise contradict each other: choose one")
    noise = args.bundled_noise if args.bundled_noise is not None else not args.noise_dir and not args.no_noise
    defaults = NegativesConfig()
    return NegativesConfig(
        bundled=mode == "bundled", noise=noise,
        confusables_per_word=(args.confusables if args.confusables is not None
                              else ADAPT_CONFUSABLES if adapting else defaults.confusables_per_word)
        if mode == "bundled" else 0,
        unknown_pct=args.unknown_pct if args.unknown_pct is not None else defaults.unknown_pct,
        seed=args.seed)


def with_negatives_events(data, config, cache_dir: str | None, token):
    """Render similar words if asked, then ``Finished(the DataSpec with negatives and noise)``."""
    from speechrnn.events import Finished
    from speechrnn.negatives import default_noise, prepare_negatives

    if data.words:
        yield from prepare_negatives(data, config, cache_dir, cancel=token)
    else:
        yield Finished(default_noise(data) if config.noise else data)


class _StopSignals:
    """Ctrl-C and SIGTERM cancel at the next batch (a resumable checkpoint is saved); a second
    Ctrl-C aborts at once. The SIGTERM handler only sets the token."""

    def __init__(self, token):
        self.token = token
        self.received: int | None = None  # the first stopping signal
        self.previous: dict = {}

    def on_interrupt(self, signum, frame):  # noqa: ARG002 - signal handler signature
        import sys

        if self.token.cancelled:
            raise KeyboardInterrupt
        self.received = self.received or signum
        self.token.cancel()
        print("\nstopping after this batch (Ctrl-C again to abort)...", file=sys.stderr)

    def on_terminate(self, signum, frame):  # noqa: ARG002 - signal handler signature
        self.received = self.received or signum
        self.token.cancel()

    def __enter__(self):
        import signal

        for signum, handler in ((signal.SIGINT, self.on_interrupt), (signal.SIGTERM, self.on_terminate)):
            try:
                self.previous[signum] = signal.signal(signum, handler)
            except ValueError:  # not the main thread: the caller cancels the token itself
                pass
        return self

    def __exit__(self, *exc_info):
        import signal

        for signum, handler in self.previous.items():
            signal.signal(signum, handler)

    @property
    def exit_code(self) -> int:
        import signal

        return 128 + (self.received or signal.SIGINT)  # 130 for Ctrl-C, 143 for SIGTERM


def _ignored_on_resume(args: argparse.Namespace) -> list[str]:
    """Options given with --resume that differ from their defaults: the run keeps its saved ones."""
    defaults = vars(args.parser.parse_args(["--out", args.out]))
    taken = {"out", "resume", "quiet", "device", "threads", "cache_dir", "func", "parser", "command"}
    ignored = []
    for action in args.parser._actions:
        name = action.dest
        if name in taken or name == "help" or not action.option_strings:
            continue
        if getattr(args, name) != defaults.get(name):
            value = getattr(args, name)
            shown = "" if isinstance(value, bool) else " " + (",".join(map(str, value)) if isinstance(value, list)
                                                             else str(value))
            ignored.append(action.option_strings[-1] + shown)
    return ignored


def run_command(args: argparse.Namespace) -> int:
    import os
    import signal
    import sys

    from speechrnn.cli.progress import consume
    from speechrnn.errors import SpeechRNNError
    from speechrnn.events import CancelToken, Cancelled
    from speechrnn.training import TrainConfig, train

    if args.resume and args.force:
        raise SpeechRNNError("--resume and --force contradict each other: choose one")
    if args.resume:
        ignored = _ignored_on_resume(args)
        if ignored:
            print(f"note: --resume continues the run with its saved data and settings (only --device and "
                  f"--threads may change); ignored: {', '.join(ignored)}. To train with other settings "
                  f"(more epochs too: the learning-rate schedule spans the run's epochs), start a new run "
                  f"with --out elsewhere or --force", file=sys.stderr)
        from speechrnn.data.spec import DataSpec

        data, features, model, augment = DataSpec(("resume",)), None, None, None
        try:
            config = TrainConfig(device=args.device, threads=args.threads)
        except ValueError as exc:
            raise SpeechRNNError(str(exc)) from None
    else:
        if not args.data:
            raise SpeechRNNError("--data is required (a folder or speech-commands:v2), unless --resume")
        try:
            data, features, model, augment, config, synth, negatives = _configs(args)
        except ValueError as exc:
            raise SpeechRNNError(str(exc)) from None
    token = CancelToken()
    main_rank = int(os.environ.get("RANK", "0")) == 0
    quiet = args.quiet or not main_rank
    with _StopSignals(token) as signals:
        try:
            if not args.resume:
                from pathlib import Path

                from speechrnn.training.run_folder import check_out_dir

                check_out_dir(Path(args.out), resume=False, force=args.force)  # before rendering anything
                if synth is not None:
                    import shutil

                    shutil.rmtree(synth.out_dir, ignore_errors=True)  # an earlier attempt's: rendered anew
                    consume(synth.events(token), quiet=quiet)
                data = consume(with_negatives_events(data, negatives, args.cache_dir, token), quiet=quiet)
            result = consume(train(data, features, model, augment, config, args.out, resume=args.resume,
                                   force=args.force, cancel=token, cache_dir=args.cache_dir), quiet=quiet)
        except Cancelled:
            from pathlib import Path

            from speechrnn.training import LAST_NAME

            hint = (f"; continue with: speechrnn train --resume --out {args.out}"
                    if (Path(args.out) / LAST_NAME).is_file() else " before the first checkpoint")
            how = "terminated (SIGTERM)" if signals.received == signal.SIGTERM else "interrupted"
            print(f"speechrnn train: {how}{hint}", file=sys.stderr)
            return signals.exit_code
    if result is None or not main_rank:
        return 0
    _print_summary(result)
    return 0


def _print_summary(result) -> None:
    metrics = result.metrics
    if metrics.get("best_val_acc") is not None:
        chosen_by = f"validation accuracy {100 * metrics['best_val_acc']:.2f} %"
    else:
        chosen_by = (f"training accuracy {100 * metrics.get('best_train_acc', 0):.2f} %, "
                     "no validation clips to choose by")
    print(f"best model: {result.best_path} (epoch {metrics.get('best_epoch')}, {chosen_by})")
    if "test_accuracy" in metrics:
        print(f"test accuracy: {100 * metrics['test_accuracy']:.2f} % on {metrics['test_clips']} clips")
        for source, values in metrics.get("test_per_source", {}).items():
            print(f"  {source}: {100 * values['accuracy']:.2f} % ({values['clips']} clips)")
    print(f"training speed: {metrics.get('samples_per_s', 0):,.0f} {result.train_scored_on}/s")
    from speechrnn.checkpoint import load_checkpoint
    from speechrnn.recognizer import recorded_threshold

    threshold = recorded_threshold(load_checkpoint(result.best_path).train_config or {})
    recorded = f" (detection threshold {threshold:g}, recorded in the model)" if threshold is not None else ""
    print(f"listen: speechrnn listen {result.best_path}{recorded}")
