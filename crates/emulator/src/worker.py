# The emulator's Python worker: imports one build's `src/<name>.py` and answers calls to its
# `apply(input)`, one at a time, for as long as the emulator keeps it warm. It is started as
# `python3 worker.py BUILD_DIR NAME` and speaks newline-delimited JSON on its own pipes:
#
#   request:  {"kind": "json"|"text"|"binary", "input": ...}  (JSON input as its text)
#   answer:   {"ok": true, "kind": "json"|"text"|"binary", "result": ..., "stdout": "..."}
#             {"ok": false, "message": ..., "stacktrace": ..., "error_type": ..., "stdout": "..."}
#
# Binary values travel base64-encoded. What the algorithm prints goes to the answer's `stdout`
# (file descriptor 1 is pointed at stderr, so nothing the algorithm does can corrupt the
# protocol). This file is part of algodeploy's emulator; it runs the user's code.
import base64
import importlib.util
import io
import json
import os
import sys
import traceback

build_dir, name = sys.argv[1], sys.argv[2]
protocol_in = os.fdopen(os.dup(0), "rb")
protocol_out = os.fdopen(os.dup(1), "wb")
os.dup2(2, 1)
devnull = os.open(os.devnull, os.O_RDONLY)
os.dup2(devnull, 0)
sys.stdout = sys.stderr


def send(message):
    protocol_out.write(json.dumps(message, separators=(",", ":")).encode("utf-8") + b"\n")
    protocol_out.flush()


def failure(error_type, message, stacktrace="", printed=""):
    return {
        "ok": False,
        "error_type": error_type,
        "message": message,
        "stacktrace": stacktrace,
        "stdout": printed,
    }


sys.path.insert(0, build_dir)
sys.path.insert(0, os.path.join(build_dir, "src"))
load_error = None
try:
    spec = importlib.util.spec_from_file_location(name, os.path.join(build_dir, "src", name + ".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    entry = getattr(module, "apply")
except BaseException as exc:  # the algorithm's own import failure is reported per call
    load_error = failure(
        "AlgorithmError",
        "the algorithm failed to load: {}: {}".format(type(exc).__name__, exc),
        traceback.format_exc(),
    )

for line in protocol_in:
    try:
        request = json.loads(line)
    except ValueError:
        send(failure("SystemError", "the emulator sent a malformed request"))
        continue
    if load_error is not None:
        send(load_error)
        continue
    kind = request.get("kind")
    value = request.get("input")
    if kind == "binary":
        value = base64.b64decode(value)
    elif kind == "json":
        value = json.loads(value)
    captured = io.StringIO()
    sys.stdout = captured
    try:
        result = entry(value)
        printed = captured.getvalue()
        sys.stdout = sys.stderr
        if isinstance(result, (bytes, bytearray)):
            send({"ok": True, "kind": "binary", "result": base64.b64encode(bytes(result)).decode("ascii"), "stdout": printed})
        elif isinstance(result, str):
            send({"ok": True, "kind": "text", "result": result, "stdout": printed})
        else:
            try:
                encoded = json.loads(json.dumps(result))
            except (TypeError, ValueError) as exc:
                send(failure("AlgorithmError", "the result is not JSON: {}".format(exc), traceback.format_exc(), printed))
                continue
            send({"ok": True, "kind": "json", "result": encoded, "stdout": printed})
    except BaseException as exc:
        printed = captured.getvalue()
        sys.stdout = sys.stderr
        message = str(exc) or type(exc).__name__
        send(failure("AlgorithmError", message, traceback.format_exc(), printed))
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            break
