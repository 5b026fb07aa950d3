"""Hostile values for every option of every command and every key of an experiment file (issue 16).

The option list is derived from the argparse parsers (`netkit.cli.build_parser`), so a new option is
covered or the coverage test fails:

* numeric options (`validate.NumberArg` types) get NaN, infinities, text, an empty string, a fraction
  (integers), and values just outside their declared bounds; their defaults must lie inside the bounds;
* path options (`validate.PathArg` types) get a missing file, a folder, a path under a regular file, "";
* choice options get a value that is not a choice;
* every other option has a row in `STRING_CASES` (hostile values for that option, given with a valid rest
  of the command line) or in `EXEMPT` (with the reason);
* input files also get binary garbage and an empty file (`CONTENT_CASES`).

Each case must end with exit status 2 and exactly one stderr line that names the option (or the file), no
traceback, nothing in `--out` and no `.partial` folder, and no namespace or child process left. Cases run
in-process through `netkit.cli.main` (one parser built once) under a per-case alarm; a small subprocess set
checks the resource bounds with RLIMIT_AS at 4 GiB and a timeout.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from netkit import cli
from netkit import validate as v

PARSER = cli.build_parser()
REPO = Path(__file__).resolve().parents[1]


def _commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    yield path, parser
    for s in subs:
        for name, sub in s.choices.items():
            yield from _commands(sub, path + (name,))


def _options():
    for path, parser in _commands(PARSER):
        for a in parser._actions:
            if isinstance(a, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            yield path, a


def _name(a: argparse.Action) -> str:
    return a.option_strings[0] if a.option_strings else a.dest


OPTIONS = [(path, a) for path, a in _options()]
NUMERIC = [(p, a) for p, a in OPTIONS if isinstance(a.type, v.NumberArg)]
PATHS = [(p, a) for p, a in OPTIONS if isinstance(a.type, v.PathArg)]
CHOICES = [(p, a) for p, a in OPTIONS if a.choices is not None and not isinstance(a.type, (v.NumberArg, v.PathArg))]
FLAGS = [(p, a) for p, a in OPTIONS if a.nargs == 0]


def _id(path, a) -> str:
    return " ".join(path) + " " + _name(a)


# --- fixtures: files the valid part of each command line uses -----------------------------------------------

@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    """Valid inputs, garbage, a folder and a regular file to put paths under."""
    d = tmp_path_factory.mktemp("hostile")
    f = {}
    (d / "ok.trace").write_text("".join(f"{t}\n" for t in range(1, 1001)))
    f["trace"] = str(d / "ok.trace")
    (d / "rates.csv").write_text("time_s,mbps\n0,5\n1,6\n2,4\n")
    f["csv"] = str(d / "rates.csv")
    (d / "exp.toml").write_text('duration_s = 1\n[links.down]\ntrace = "constant:12"\n[[apps]]\nmodule = "bulk"\n')
    f["exp"] = str(d / "exp.toml")
    kv = np.random.default_rng(0).standard_normal((2, 2, 16, 2, 8)).astype(np.float32)
    np.save(d / "kv.npy", kv)
    f["kv"] = str(d / "kv.npy")
    from netkit.apps.kvstream.chunks import encode_kv
    from netkit.apps.kvstream.codec import get_codec

    (d / "kv.bin").write_bytes(encode_kv(kv, get_codec("fp16"), chunk_tokens=8))
    f["container"] = str(d / "kv.bin")
    (d / "profile.json").write_text(json.dumps({"sizes": {"fp16": [1000, 1000]}, "process": {"fp16": [10, 10]},
                                                "qualities": {"fp16": 1.0}}))
    f["profile"] = str(d / "profile.json")
    (d / "garbage.bin").write_bytes(bytes(range(256)) * 8 + b"\x00\xff" * 100)
    f["garbage"] = str(d / "garbage.bin")
    (d / "empty.txt").write_bytes(b"")
    f["empty"] = str(d / "empty.txt")
    (d / "lte").mkdir()
    (d / "lte" / "ok.down").write_text("".join(f"{t}\n" for t in range(1, 1001)))
    f["lte"] = str(d / "lte")
    (d / "folder").mkdir()
    f["folder"] = str(d / "folder")
    f["missing"] = str(d / "no-such-file")
    f["under_file"] = str(d / "ok.trace" / "x")
    return f


class Timeout(Exception):
    """A case ran past its alarm: something started that should have been refused."""


@contextmanager
def alarm(seconds: float):
    def fire(signum, frame):
        raise Timeout(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _our_namespaces() -> set[str]:
    try:
        return {n for n in os.listdir("/run/netns") if n.startswith(f"nk-{os.getpid()}-")}
    except FileNotFoundError:
        return set()


def _children() -> set[int]:
    me, kids = str(os.getpid()), set()
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/stat") as fh:
                    if fh.read().rsplit(")", 1)[1].split()[1] == me:
                        kids.add(int(pid))
            except (OSError, IndexError):
                pass
    return kids


@pytest.fixture
def netkit(monkeypatch, capsys, tmp_path):
    """`run(argv, *names)`: netkit ARGV in-process must be refused in one line naming one of `names`."""
    monkeypatch.setattr(cli, "build_parser", lambda: PARSER)
    monkeypatch.chdir(tmp_path)

    def run(argv: list[str], *names: str, seconds: float = 20.0) -> str:
        kids, spaces = _children(), _our_namespaces()
        with alarm(seconds):
            rc = cli.main([str(a) for a in argv])
        err = capsys.readouterr().err
        lines = [line for line in err.splitlines() if line.strip()]
        assert "Traceback" not in err, err
        assert rc == 2 and len(lines) == 1, (argv, rc, lines)
        assert any(n in lines[0] for n in names), (names, lines[0])
        left = [p for p in tmp_path.rglob("*") if p.name in ("out", "out.bin", "out.trace", "out.npy")
                or "partial" in p.name]
        assert not left, left
        assert _our_namespaces() <= spaces and _children() <= kids, "a namespace or a process was left"
        return lines[0]

    return run


# --- the valid rest of each command line ----------------------------------------------------------------------

#: argv before and after the option under test ({name} from the `files` fixture; `out`: the folder that
#: must not appear)
BASE: dict[str, tuple[list[str], list[str]]] = {
    "trace info": (["trace", "info", "{trace}"], []),
    "trace convert": (["trace", "convert", "{csv}", "--out", "out.trace"], []),
    "trace synth": (["trace", "synth", "constant", "--duration", "1", "--out", "out.trace"], []),
    "run": (["run", "{exp}", "--out", "out"], []),
    "sweep": (["sweep", "{exp}", "--out", "out", "--no-progress"], []),
    "replay": (["replay", "--trace", "{trace}", "--duration", "1", "--out", "out"], []),
    "l4s": (["l4s", "--duration", "1", "--skip", "0", "--out", "out"], []),
    "shell": (["shell"], ["--", "true"]),
    "link": (["link", "--outer", "nk-hostile-a", "--inner", "nk-hostile-b"], []),
    "kvstream encode": (["kvstream", "encode", "--in", "{kv}", "--out", "out.bin"], []),
    "kvstream decode": (["kvstream", "decode", "--in", "{container}", "--out", "out.npy"], []),
    "kvstream stream-bench": (["kvstream", "stream-bench", "--profile", "{profile}", "--traces", "{lte}",
                               "--requests", "1", "--out", "out"], []),
    "kvstream stream-live": (["kvstream", "stream-live", "--profile", "{profile}", "--trace", "{trace}"], []),
    "tokenstream bench": (["tokenstream", "bench", "--seeds", "1", "--loss", "0", "--tokens", "5", "--out", "out"], []),
    "tokenstream live": (["tokenstream", "live", "--tokens", "5", "--out", "out"], []),
    "tokenstream rtc": (["tokenstream", "rtc", "--tokens", "5"], []),
    "tokenstream record": (["tokenstream", "record", "--out", "out.trace", "--max-new-tokens", "1"], []),
    "grace bench": (["grace", "bench", "--video", "bikes.mp4", "--frames", "2", "--loss", "0", "--model",
                     str(REPO / "models" / "grace" / "grace.pt"), "--out", "out"], []),
    "grace webrtc": (["grace", "webrtc", "--frames", "2", "--out", "out"], []),
    "grace train": (["grace", "train", "--tiny", "--steps", "1", "--out", "out.bin"], []),
    "swiftqueue bench": (["swiftqueue", "bench", "--trace", "{trace}", "--duration", "5", "--out", "out"], []),
    "swiftqueue train": (["swiftqueue", "train", "--seeds", "1", "--duration", "1", "--epochs", "1",
                          "--out", "out"], []),
    "sfu bench": (["sfu", "bench", "--duration", "1", "--warmup", "0", "--out", "out"], []),
    "p4 load": (["p4", "load", "--grpc", "127.0.0.1:1"], []),
    "p4 compile": (["p4", "compile", "sfu", "--target", "software", "--out", "out"], []),
    "kvstream bench": (["kvstream", "bench", "--model", "tiny", "--tokens", "16", "--repeats", "1", "--out", "out"], []),
    "p4 serve": (["p4", "serve"], []),
}

QUEUES = ["", "bogus", "droptail:packets=nan", "droptail:packets=1,packets=2", "droptail:foo=3",
          "droptail:packets=-1", "droptail:packets=" + "9" * 30, "codel:packets=10,target=0",
          "pie:packets=10,qdelay_ref=-1", "dualpi2:limit=1e30", "dualpi2:target=inf", "dualpi2:alpha=nan",
          "dualpi2:coupling=-1"]
TRACES = ["constant:nan", "constant:inf", "constant:-1", "constant:0", "constant:1e9", "constant:", "{missing}",
          "{folder}", "{garbage}", "{empty}", ""]
APPS = ["", "ftp", "cbr:nan", "cbr:inf", "cbr:-1", "cbr:1e12", "cbr:", "bulk:foo"]

#: option -> hostile values (each must be refused naming the option)
STRING_CASES: dict[str, list[str]] = {
    **{f"{c} {o}": QUEUES for c in ("replay", "shell", "link", "tokenstream live")
       for o in ("--queue", "--uplink-queue")},
    "l4s --queue": QUEUES, "kvstream stream-bench --queue": QUEUES, "kvstream stream-live --queue": QUEUES,
    **{f"{c} {o}": TRACES for c in ("replay", "shell", "link", "tokenstream live") for o in ("--trace", "--uplink")},
    "l4s --trace": TRACES, "kvstream stream-live --trace": TRACES, "kvstream stream-live --uplink": TRACES,
    "tokenstream bench --trace": TRACES, "sfu bench --trace": TRACES, "swiftqueue bench --trace": TRACES,
    "replay --app": APPS, "l4s --app": APPS,
    "run --set": ["duration_s=nan", "links.down.loss=inf", "seed=-1", "nokey", "=1", "duration_s=1e300",
                  "apps.0.cc=1", "links.down.delay_ms=\"x\""],
    "sweep --set": ["duration_s=nan", "links.down.loss=inf", "nokey"],
    "sweep --grid": ["links.down.loss=nan", "links.down.loss=0,inf", "x", "links.down.loss=", "seed=1,1e300",
                     "duration_s=-1"],
    "trace synth --steps": ["1:nan", "nan:1", "", "x", "1:-1", "1e9:1", "0:5"],
    "trace synth --states": ["", ",", "nan", "1,inf", "-1,2", "x"],
    "kvstream stream-bench --traces": ["{missing}", "{trace}", "{folder}", ""],
    "link --outer": ["", "nk-hostile-missing"],
    "link --inner": ["", "nk-hostile-a"],
    "grace bench --video": ["{missing}", "{folder}", "{garbage}", "{empty}", ""],
    "grace bench --model": ["{missing}", "{folder}", "{garbage}", "{empty}"],
    "grace bench --schemes": ["bogus", "", ","],
    "grace bench --trace": TRACES, "grace bench --queue": QUEUES,
    "grace webrtc --trace": TRACES,
    "grace webrtc --video": ["{missing}", "{folder}", "{garbage}", "{empty}", ""],
    "grace webrtc --model": ["{missing}", "{folder}", "{garbage}", "{empty}"],
    "grace train --init": ["{missing}", "{folder}", "{garbage}"],
    "grace train --out": ["{folder}", "{under_file}", ""],
    "swiftqueue bench --model": ["{missing}", "{folder}", "{garbage}"],
    "swiftqueue bench --gru-model": ["{missing}", "{folder}", "{garbage}"],
    "swiftqueue bench --decision-model": ["{missing}", "{folder}", "{garbage}"],
    "swiftqueue train --dagger-model": ["{missing}", "{folder}", "{garbage}"],
    "swiftqueue train --out": ["{trace}", "{under_file}", ""],
    "swiftqueue train --name": ["", "a/b", ".."],
    "swiftqueue train --data-policies": ["", ",", "bogus", "last,foo"],
    "tokenstream record --model": ["{missing}", "{trace}", "{folder}"],
    "kvstream encode --profile": ["{missing}", "{folder}", "{garbage}", "{empty}", "{container}", "bogus"],
    "p4 serve --grpc": ["", "nohostport", "host:99999", "host:-1", "unix:"],
    "p4 load --grpc": ["", "nohostport", "host:99999", "unix:"],
    "p4 load --election-id": ["", "1", "a,b", "-1,0", "nan,1", "1,2,3", "0,18446744073709551616"],
    "p4 serve --port": ["", "x@eth0", "1", "999@eth0", "255@eth0", "-1@eth0", "1@"],
    "p4 load --program": ["bogus-program", ""],
    "p4 serve --program": ["bogus-program", ""],
    "p4 compile program": ["bogus-program", "{garbage}", ""],
}

#: input files whose content the command reads: binary garbage and an empty file are refused too
CONTENT_CASES = ["trace info file", "trace convert file", "run file", "sweep file", "kvstream encode --in",
                 "kvstream encode --basis", "kvstream decode --in", "kvstream decode --basis",
                 "kvstream stream-bench --profile", "kvstream stream-live --profile", "tokenstream bench --token-trace",
                 "tokenstream live --token-trace", "tokenstream rtc --token-trace", "p4 load --entries"]

#: options that no hostile value fits, and why
EXEMPT: dict[str, str] = {
    "shell command": "the command to run: any program and arguments (a missing program is the command's error)",
    "tokenstream record --prompt": "free text: every string is a valid prompt",
    "sweep --ray-address": "used only with --engine ray; Ray itself resolves and checks the address",
    "sweep --plot-metric": "a metric name for the plot; a name no run reports is left out of the plot",
}


def _fill(text: str, files: dict[str, str]) -> str:
    return text.format(**files) if "{" in text else text


def _argv(key: str, option: str | None, value: str, files: dict[str, str]) -> list[str]:
    """The BASE command line of `key` with `option value` (or the positional `value`) in it."""
    command = next(c for c in sorted(BASE, key=len, reverse=True) if key.startswith(c + " ") or key == c)
    before, after = BASE[command]
    before = [_fill(x, files) for x in before]
    if option is None or not option.startswith("-"):  # a positional: replace the first one after the command
        n = len(command.split())
        if before[n:n + 1] and not before[n].startswith("-"):
            return before[:n] + [value] + before[n + 1:] + after
        return before + [value] + after
    if option in before:  # replace the BASE value of the option
        i = before.index(option)
        return before[:i + 1] + [value] + before[i + 2:] + after
    return before + [option, value] + after


# --- coverage -----------------------------------------------------------------------------------------------

def test_every_option_is_covered_or_exempt_with_a_reason():
    covered = set()
    for path, a in OPTIONS:
        key = _id(path, a)
        if (path, a) in FLAGS or isinstance(a.type, (v.NumberArg, v.PathArg)) or a.choices is not None \
                or key in STRING_CASES or key in EXEMPT:
            covered.add(key)
            continue
        pytest.fail(f"option {key!r} has no hostile cases: give it a NumberArg/PathArg type, choices, a "
                    "STRING_CASES row or an EXEMPT reason")
    stale = (set(STRING_CASES) | set(EXEMPT) | set(CONTENT_CASES)) - covered
    assert not stale, f"table rows for options that no longer exist: {sorted(stale)}"
    typed = {_id(p, a) for p, a in OPTIONS if isinstance(a.type, (v.NumberArg, v.PathArg)) or a.choices is not None}
    assert not typed & set(EXEMPT), f"exempt options that are checked after all: {sorted(typed & set(EXEMPT))}"
    assert all(reason.strip() for reason in EXEMPT.values())


def test_every_numeric_option_is_bounded_on_both_sides():
    unbounded = [_id(p, a) for p, a in NUMERIC if a.type.minimum is None or a.type.maximum is None]
    plain = [_id(p, a) for p, a in OPTIONS if a.type in (int, float)]
    assert not plain, f"options still typed int/float (no bounds): {plain}"
    assert not unbounded, f"numeric options without both bounds: {unbounded}"


@pytest.mark.parametrize("path, action", NUMERIC, ids=[_id(p, a) for p, a in NUMERIC])
def test_numeric_default_lies_within_the_bounds(path, action):
    defaults = action.default if isinstance(action.default, list) else [action.default]
    for d in defaults:
        if d is not None:
            action.type.check(d, _name(action))


def _hostile_numbers(t: v.NumberArg) -> list[str]:
    values = ["nan", "NaN", "inf", "-inf", "1e400", "", "abc", "0x10", "1,5"]
    if t.integer:
        values.append("1.5")
    if t.minimum is not None:
        values.append(repr(t.minimum) if t.min_exclusive else
                      str(int(t.minimum) - 1) if t.integer else repr(t.minimum - max(1.0, abs(t.minimum))))
    if t.maximum is not None:
        values.append(repr(t.maximum) if t.max_exclusive else
                      str(int(t.maximum) + 1) if t.integer else repr(t.maximum * 10 + 1))
        values.append("1" + "0" * 400)
    return values


@pytest.mark.parametrize("path, action", NUMERIC, ids=[_id(p, a) for p, a in NUMERIC])
def test_numeric_options_refuse_hostile_values(path, action, netkit):
    for value in _hostile_numbers(action.type):
        # `--opt=-inf`: a value that looks like an option is still the option's (`--opt -inf` is argparse's
        # "unrecognized argument" for nargs="*")
        netkit([*path, f"{_name(action)}={value}"], _name(action))


@pytest.mark.parametrize("path, action", CHOICES, ids=[_id(p, a) for p, a in CHOICES])
def test_choice_options_refuse_other_values(path, action, netkit):
    argv = [*path, _name(action), "no-such-choice"] if action.option_strings else [*path, "no-such-choice"]
    netkit(argv, _name(action))


@pytest.mark.parametrize("path, action", PATHS, ids=[_id(p, a) for p, a in PATHS])
def test_path_options_refuse_missing_folders_and_unwritable(path, action, netkit, files):
    key = _id(path, action)
    hostile = ["", files["under_file"]] + ([files["missing"], files["folder"]] if action.type.kind == "in" else
                                           [files["folder"]] if action.type.kind == "out-file" else [files["trace"]])
    for value in hostile:
        netkit(_argv(key, _name(action), value, files), _name(action))


@pytest.mark.parametrize("key", CONTENT_CASES)
def test_input_files_with_garbage_or_nothing_in_them_are_refused(key, netkit, files):
    option = key.rsplit(" ", 1)[1]
    for value in (files["garbage"], files["empty"]):
        netkit(_argv(key, option, value, files), option, value)


@pytest.mark.parametrize("key", sorted(STRING_CASES))
def test_string_options_refuse_hostile_values(key, netkit, files):
    option = key.rsplit(" ", 1)[1]
    for value in STRING_CASES[key]:
        value = _fill(value, files)
        names = [option] + ([value] if value.startswith("/") else [])
        if option in ("--set", "--grid") and "=" in value and value.split("=")[0]:
            names.append(f": {value.split('=')[0]}:")  # the file's key is named (with the file)
        netkit(_argv(key, option, value, files), *names)


# --- experiment files: every key ------------------------------------------------------------------------------

#: the top-level keys and their kinds (checked against spec.TOP_KEYS, so a new key is not skipped)
TOP = {"name": "str", "description": "text", "duration_s": "float", "warmup_s": "float", "seed": "int",
       "mode": "choice"}
TABLE_KEYS = {"topology", "links", "apps"}  # tables: their keys are listed below
LINK = {"trace": "trace", "delay_ms": "float", "loss": "float", "loss_model": "choice", "loss_burst": "float",
        "queue": "queue", "log": "bool", "trace_start_s": "float"}
TOPOLOGY = {"topology.kind": "choice", "topology.pairs": "int", "topology.hosts": "int"}
PLACEMENT = {"module": "str", "name": "str", "server": "str", "client": "str", "start_s": "float"}
#: what each app needs to be valid at all (its required parameters)
APP_BASE = {"kvstream": {"profile": "{profile}"}}

HOSTILE_BY_KIND = {
    "float": ["nan", "inf", "-inf", "-1e300", "1e300", '"x"', "true", "[1]"],
    "int": ["nan", "inf", "-1", "1e300", "1.5", '"x"', "true", str(2**70)],
    "str": ["1", "true", "[]", '""'],
    "text": ["1", "true", "[]"],
    "bool": ['"yes"', "1", "nan"],
    "choice": ['"bogus"', "1", '""'],
    "trace": ['"constant:nan"', '"constant:-1"', '"constant:1e9"', '"{missing}"', '"{folder}"', '"{garbage}"', "1"],
    "queue": ['"bogus"', '"droptail:packets=nan"', '"droptail:packets=1,packets=2"', '"droptail:foo=3"', "1"],
    "path": ['"{missing}"', '"{folder}"', '"{garbage}"', '"{empty}"', "1", '""'],
}


def _experiment_keys() -> list[tuple[str, str, str]]:
    """(module, dotted key, kind) for every key an experiment file may hold, apps' parameters included."""
    from netkit.experiment.registry import app_names, get_app
    from netkit.experiment.spec import PLACEMENT_KEYS, TOP_KEYS
    from netkit.net.direction import LinkDirection

    assert set(TOP) | TABLE_KEYS == set(TOP_KEYS), "a new top-level key needs a kind in TOP"
    assert set(LINK) == set(LinkDirection.KEYS), "a new link key needs a kind in LINK"
    assert set(PLACEMENT) == set(PLACEMENT_KEYS), "a new [[apps]] key needs a kind in PLACEMENT"
    keys = [("bulk", k, kind) for k, kind in TOP.items()]
    keys += [("bulk", f"links.{d}.{k}", kind) for d in ("down", "up") for k, kind in LINK.items()]
    keys += [("bulk", k, kind) for k, kind in TOPOLOGY.items()]
    keys += [("bulk", f"apps.0.{k}", kind) for k, kind in PLACEMENT.items() if k != "module"]
    for name in app_names():
        for p in get_app(name).params:
            if p.kind != "object":  # Python callers only: TOML cannot make one
                keys.append((name, f"apps.0.{p.name}", p.kind))
    return keys


EXPERIMENT_KEYS = _experiment_keys()


@pytest.mark.parametrize("module, key, kind", EXPERIMENT_KEYS, ids=[f"{m}:{k}" for m, k, _ in EXPERIMENT_KEYS])
def test_experiment_keys_refuse_hostile_values(module, key, kind, netkit, files, tmp_path):
    from netkit.experiment.registry import get_app

    exp = tmp_path / "exp.toml"
    base = {k: _fill(val, files) for k, val in APP_BASE.get(module, {}).items()}
    modes = get_app(module).modes
    body = f'duration_s = 1\nmode = "{modes[0]}"\n[links.down]\ntrace = "constant:12"\n' \
           f'[[apps]]\nmodule = "{module}"\n' + "".join(f'{k} = "{val}"\n' for k, val in base.items())
    exp.write_text(body)
    param = next((p for p in get_app(module).params if f"apps.0.{p.name}" == key), None)
    values = list(HOSTILE_BY_KIND[kind])
    if param is not None and param.kind in ("float", "int"):
        if param.minimum is not None:
            values.append(repr(param.minimum - 1))
        if param.maximum is not None:
            values.append(repr(param.maximum * 10 + 1))
    if key in ("topology.pairs", "topology.hosts"):  # the keys of a dumbbell and of a star
        values.append(str(1000))
        kind = ["--set", 'topology.kind="dumbbell"' if key.endswith("pairs") else 'topology.kind="star"']
    else:
        kind = []
    for value in values:
        value = _fill(value, files)
        netkit(["run", exp, "--out", "out", *kind, "--set", f"{key}={value}"], key)


# --- resource bounds in a child process: memory capped at 4 GiB, time bounded -----------------------------------

BOMBS = {
    "replay --app cbr:inf": ["replay", "--trace", "{trace}", "--app", "cbr:inf", "--out", "out"],
    "replay 100 Gbit/s for a day": ["replay", "--trace", "constant:100000", "--duration", "86400", "--out", "out"],
    "trace info 1e11 ms gap": ["trace", "info", "{gap}"],
    "trace info 1e29 timestamp": ["trace", "info", "{huge}"],
    "trace synth constant --mbps 1e9": ["trace", "synth", "constant", "--mbps", "1e9", "--out", "out.trace"],
    "l4s --rate 1e9": ["l4s", "--rate", "1e9", "--out", "out"],
    "shell --delay 1e15": ["shell", "--delay", "1e15", "--", "true"],
    "kvstream decode of a 88-byte container declaring 64 GiB": ["kvstream", "decode", "--in", "{bomb}", "--out",
                                                               "out.npy"],
}

CHILD = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
from netkit.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.fixture(scope="module")
def bombs(files, tmp_path_factory) -> dict[str, str]:
    from netkit.apps.kvstream import container

    d = tmp_path_factory.mktemp("bombs")
    (d / "gap.trace").write_text("0\n1\n100000000000\n")
    (d / "huge.trace").write_text("1\n100000000000000000000000000000\n")
    shape = (16, 2, 2**20, 32, 32)
    chunk = container.pack_chunk(container.Kind.FP16, 1, np.float16, shape, b"")  # valid CRCs, no payload
    (d / "bomb.kv").write_bytes(container.pack_container(container.Kind.FP16, 1, np.float16, shape, 2**20, [chunk]))
    return {**files, "gap": str(d / "gap.trace"), "huge": str(d / "huge.trace"), "bomb": str(d / "bomb.kv")}


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_resource_bombs_are_refused_within_memory_and_time(name, bombs, tmp_path):
    argv = [_fill(a, bombs) for a in BOMBS[name]]
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", CHILD, *argv], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PYTHONPATH": str(REPO)})
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert "Traceback" not in proc.stderr and "MemoryError" not in proc.stderr, proc.stderr
    assert proc.returncode == 2 and len(lines) == 1, (proc.returncode, lines)
    assert time.monotonic() - t0 < 60
    assert not [p for p in tmp_path.iterdir()], list(tmp_path.iterdir())


def test_documented_limits_are_the_ones_enforced():
    doc = (REPO / "docs" / "core.md").read_text()
    section = doc[doc.index("## Input limits"):]
    from netkit.apps.kvstream.container import MAX_ELEMENTS, MAX_ELEMENTS_PER_BYTE
    from netkit.experiment.spec import MAX_SIM_PACKETS
    from netkit.trace.stats import MAX_WINDOWS

    for value in (v.MAX_TRACE_MS, v.MAX_OPPORTUNITIES, v.MAX_DELAY_MS, v.MAX_DURATION_S, v.MAX_RATE_MBPS,
                  MAX_SIM_PACKETS, MAX_WINDOWS, MAX_ELEMENTS_PER_BYTE, MAX_ELEMENTS):
        assert f"{int(value):,}".replace(",", " ") in section or str(int(value)) in section, value
    assert math.isfinite(v.MAX_BURST)
