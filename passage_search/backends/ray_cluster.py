"""A Ray to build on: the one this process already runs, a cluster at an address, or a local one started here.

Ray is optional (``pip install 'passage-search[distributed]'``) and imported by the functions below only,
so ``passage-search --help`` and local builds never load it. Three things Ray 2.60 does by default are
handled here (docs/ray.md): token authentication on a new local cluster, whose
token Ray would otherwise write to ~/.ray/auth_token; session files under /tmp/ray; and joining any Ray
that ``ray start`` left running when no address is given.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

from passage_search.errors import DistributedError, first_line

INSTALL_HINT = "pip install 'passage-search[distributed]'"

_token: str | None = None


def require_ray() -> ModuleType:
    """The ``ray`` module with Ray Data, or a one-sentence error saying how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401  (the part a build uses; ray without [data] lacks pyarrow)
    except ImportError as exc:
        raise DistributedError(
            f"The Ray engine needs Ray Data, which is not installed; install it with: {INSTALL_HINT}"
        ) from exc
    return ray


class RaySession:
    """Joins Ray on ``open`` and lets go on ``close``, which shuts down only a Ray that ``open`` started.

    ``open`` uses the Ray this process already runs if any (a test's, a notebook's), else the cluster at
    ``address`` (``auto``, ``HOST:PORT``, ``ray://HOST:10001``; default $RAY_ADDRESS), else starts a local
    Ray on every CPU this process may use, with its session files in ``temp_dir`` (default: a new
    temporary folder, removed on close).
    """

    def __init__(self, *, address: str | None = None, temp_dir: Path | None = None) -> None:
        self.address = address or os.environ.get("RAY_ADDRESS") or None
        # Absolute: Ray requires it, and its processes do not share this one's working directory.
        self.temp_dir = Path(temp_dir).resolve() if temp_dir else None
        self.seconds = 0.0  # spent joining or starting Ray
        self._ray: ModuleType | None = None
        self._started = False
        self._own_temp: Path | None = None

    def open(self) -> ModuleType:
        if self._ray is not None:
            return self._ray
        ray = require_ray()
        start = time.perf_counter()
        if ray.is_initialized():
            pass  # someone else's Ray: use it, leave it running
        elif self.address:
            _join(ray, self.address)
        else:
            self._own_temp = None if self.temp_dir else Path(tempfile.mkdtemp(prefix="ps-ray-"))
            self._started = True  # close() also cleans up after a failed start
            try:
                start_local_ray(temp_dir=self.temp_dir or self._own_temp)
            except Exception as exc:
                self.close()
                raise DistributedError(f"Could not start a local Ray ({first_line(exc)}); see --temp-dir.") from exc
        self.seconds = time.perf_counter() - start
        self._ray = ray
        return ray

    def close(self) -> None:
        if self._started:
            require_ray().shutdown()
        self._ray, self._started = None, False
        if self._own_temp is not None:
            shutil.rmtree(self._own_temp, ignore_errors=True)
            self._own_temp = None


def _join(ray: ModuleType, address: str) -> None:
    try:
        ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
    except Exception as exc:
        if type(exc).__name__ == "AuthenticationError":
            # Ray sends a token to an address given explicitly only when told to (RAY_AUTH_MODE=token).
            raise DistributedError(
                f"The Ray cluster at {address} asks for a token; set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN "
                "(or ~/.ray/auth_token) to the cluster's token, then build again."
            ) from exc
        raise DistributedError(
            f"Could not connect to Ray at {address} ({first_line(exc)}); check --address, or start the cluster "
            "with: ray start --head."
        ) from exc


def start_local_ray(*, num_cpus: int | None = None, temp_dir: Path | None = None) -> None:
    """Start a Ray on this machine (every CPU this process may use by default), with token auth.

    Ray 2.60 turns token authentication on for a new local cluster and, without a token, writes one to
    ~/.ray/auth_token. Unless the user chose (RAY_AUTH_MODE, RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or that
    file), this process gets a random token in its environment instead: the cluster stays closed to
    others, nothing is written to the home folder, and Ray's processes inherit the token.
    """
    ray = require_ray()
    _private_token()
    # Ray says it turned token auth on, which is the intent here: keep that one notice off the console.
    notice = logging.getLogger("ray._private.authentication.authentication_token_setup")
    level = notice.level
    notice.setLevel(logging.ERROR)
    try:
        ray.init(
            address="local",  # a new cluster: "auto" or None would join a Ray that ray start left running
            num_cpus=num_cpus or len(os.sched_getaffinity(0)),
            include_dashboard=False,
            _temp_dir=str(Path(temp_dir).resolve()) if temp_dir else None,  # Ray's default: /tmp/ray
            logging_level=logging.WARNING,
            log_to_driver=False,
        )
    finally:
        notice.setLevel(level)


def _private_token() -> None:
    global _token
    if "RAY_AUTH_MODE" in os.environ:
        return  # the user's choice, token or disabled, stands
    chosen = os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_TOKEN_PATH")
    if not chosen and not (Path.home() / ".ray" / "auth_token").is_file():
        # One token a process: Ray caches the token it read, so a second local Ray must get the same.
        # RAY_AUTH_MODE is left to ray.init, which sets it and refreshes the configuration it read at
        # import; setting it here would leave this process on "disabled" and the cluster on "token".
        _token = _token or secrets.token_hex(32)
        os.environ["RAY_AUTH_TOKEN"] = _token


@contextmanager
def data_settings(ray: ModuleType, *, progress: bool) -> Iterator[None]:
    """Ray Data as a build wants it, for one run: the caller's settings come back afterwards."""
    context = ray.data.DataContext.get_current()
    names = ("enable_progress_bars", "print_on_execution_start", "raise_original_map_exception")
    saved = {name: getattr(context, name) for name in names}
    context.enable_progress_bars, context.print_on_execution_start = progress, False
    # The worker's own exception, not a UserCodeException that keeps only its text: a worker's
    # ModelError then reaches the user as the one sentence it is.
    context.raise_original_map_exception = True
    # Without a progress bar, Ray Data's account of each run is noise too (and its notice that bars are off).
    log = logging.getLogger("ray.data")
    level = log.level
    log.setLevel(logging.INFO if progress else logging.ERROR)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(context, name, value)
        log.setLevel(level)
