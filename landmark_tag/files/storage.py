"""Local paths and fsspec URLs (s3://, gs://, file://...) behind one small interface: the one
module that tells a folder from a bucket. Everything else opens, sizes, lists, publishes and removes
through it; the two steps whose way of working differs on a disk (discovery's symlink-aware walk,
the output lock's lockf) ask `on_disk` once.

Local paths keep using the operating system directly (it is faster, and symlink-aware discovery
needs it); anything with a protocol goes through fsspec, with optional storage options such as
an S3 endpoint. Credentials come from the backend's standard sources (for S3: AWS_* variables,
~/.aws, instance roles), and AWS_ENDPOINT_URL is honoured.
"""

from __future__ import annotations

import contextlib
import copy
import glob
import itertools
import os
import secrets
import shutil
import stat
import sys
import tempfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO

import fsspec
from fsspec.core import url_to_fs

from landmark_tag.errors import LandmarkTagError
from landmark_tag.files.throttling import count_throttled_answer

# Reads bytes [start, end) of one file (end None: to its end); fewer where the file ends sooner.
Fetch = Callable[[int, int | None], bytes]


class StorageError(LandmarkTagError):
    """A bucket or remote file system that cannot be reached or used."""


def is_url(path: str) -> bool:
    """True for `proto://...` paths other than plain local `file://` ones."""
    protocol, sep, _ = str(path).partition("://")
    return bool(sep) and protocol not in ("", "file", "local")


def local_path(path: str) -> str:
    """A local path, with any `file://` prefix removed."""
    path = str(path)
    return path[len("file://") :] if path.startswith("file://") else path


def on_disk(path: str) -> str | None:
    """Where `path` is on this machine's disk (any `file://` removed); None for a bucket's object."""
    return None if is_url(path) else local_path(path)


def is_local_folder(path: str) -> bool:
    """True for a folder on this machine's disk (an output must be a file)."""
    return not is_url(path) and os.path.isdir(local_path(path))


# S3 requests are retried with backoff (botocore's standard mode) for about a minute at most, then
# the run stops with one line saying the store cannot be reached; options given by the user win.
_S3_RETRIES = {"connect_timeout": 10, "read_timeout": 60, "retries": {"max_attempts": 5, "mode": "standard"}}

# Exceptions (by class name, so that no optional backend must be imported to recognise them) that
# mean the store could not be reached at all.
_UNREACHABLE = {
    "EndpointConnectionError",  # botocore: refused, unknown host
    "ConnectTimeoutError",
    "ReadTimeoutError",
    "ConnectionClosedError",
    "ClientConnectorError",  # aiohttp
    "ServerTimeoutError",
}


def unreachable_storage(exc: BaseException) -> str | None:
    """What to say when `exc` means a bucket's store could not be reached; None for anything else."""
    if any(cls.__name__ in _UNREACHABLE for cls in type(exc).__mro__):
        return f"the storage cannot be reached, even after retrying ({exc}); rows committed so far are kept"
    return None


# The words S3 (and fsspec's other backends) use when the credentials themselves are refused, as
# opposed to credentials that work but lack a permission.
_BAD_CREDENTIALS = ("InvalidAccessKeyId", "Access Key Id", "SignatureDoesNotMatch", "signature we calculated",
                    "ExpiredToken", "expired", "InvalidToken", "security token")  # fmt: skip


def check_url_exists(url: str, storage_options: dict[str, Any] | None = None) -> None:
    """Raise StorageError saying which it is when `url` cannot be used as an input: missing,
    credentials refused, permission denied, or a store that cannot be reached. (fsspec's `exists`
    answers False to all four.)"""
    fs, inner = filesystem(url, storage_options)
    try:
        fs.info(inner)
    except FileNotFoundError:
        raise StorageError(f"no such file, folder or bucket: {url}") from None
    except PermissionError as exc:
        text = str(exc)
        if any(word.lower() in text.lower() for word in _BAD_CREDENTIALS):
            raise StorageError(
                f"the credentials for {url} were refused ({text}): check the access key and secret "
                "(for S3: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, --storage-option)"
            ) from None
        raise StorageError(
            f"permission denied for {url} ({text}): the credentials work, but may not list or read it"
        ) from None
    except Exception as exc:
        if unreachable_storage(exc) is None:
            raise
        endpoint = (storage_options or {}).get("client_kwargs", {}).get("endpoint_url")
        endpoint = endpoint or os.environ.get("AWS_ENDPOINT_URL")
        where = f" at {endpoint}" if endpoint else ""
        raise StorageError(
            f"the storage{where} cannot be reached for {url}, even after retrying ({exc}): check the "
            "endpoint (--endpoint-url, AWS_ENDPOINT_URL) and the network"
        ) from None


def filesystem(url: str, storage_options: dict[str, Any] | None = None):
    """(fsspec filesystem, path within it) for a URL, with a clear error for a missing backend."""
    options = dict(storage_options or {})
    if url.startswith(("s3://", "s3a://")):
        # A copy: botocore fills in the retries it is given, and a changed option would make fsspec
        # tell the next call's options apart and open a second client.
        options["config_kwargs"] = {**copy.deepcopy(_S3_RETRIES), **options.get("config_kwargs", {})}
    try:
        fs, path = url_to_fs(url, **options)
    except ImportError as exc:
        protocol = url.partition("://")[0]
        raise StorageError(
            f"reading {protocol}:// needs an extra package ({exc.name or exc}); "
            "for S3: pip install 'landmark-tag[s3]'"
        ) from None
    except ValueError as exc:
        raise StorageError(f"cannot use {url}: {exc}") from None
    # fsspec reuses filesystem instances and their listing caches across calls; a scan must see
    # the bucket as it is now, not as an earlier listing in this process saw it.
    fs.invalidate_cache()
    _tune_s3_client(fs)
    return fs, path


def _tune_s3_client(store: Any) -> None:
    """Once per S3 client: count its throttling answers (`throttling`), and send PUT bodies at once.
    botocore asks for a `100 Continue` before each PUT body, and aiohttp waits for it with no
    timeout: a store that never answers it (some S3 look-alikes and proxies), or a kept-alive
    connection it closed meanwhile, left a part's upload waiting for good. Without it a PUT is
    bounded by the read timeout; the bodies are parts of at most 50 MB. Nothing for other stores."""
    if getattr(store, "protocol", None) not in (("s3", "s3a"), "s3") or hasattr(store, "_tuned_by_scan"):
        return
    from botocore.handlers import add_expect_header  # s3fs's: installed with it

    try:
        events = store.s3.meta.events
    except Exception:  # a client that cannot be made here says so on its first request, not now
        return
    events.register("needs-retry.s3", count_throttled_answer, unique_id="landmark-tag-throttled")
    events.unregister("before-call.s3", add_expect_header)
    store._tuned_by_scan = True


def open_binary(path: str, storage_options: dict[str, Any] | None = None) -> BinaryIO:
    """Open a local path or a URL for reading; remote files are read lazily in ranged blocks."""
    if not is_url(path):
        return open(local_path(path), "rb")
    # Its own client, with botocore's default retry mode (which retries SlowDown too).
    opened = fsspec.open(path, "rb", **(storage_options or {}))
    _tune_s3_client(opened.fs)
    return opened.open()


def close_connections() -> None:
    """Close this process's connections to buckets and forget its clients: call it before forking
    processes (the decode workers). A forked child that frees the clients it inherited closes their
    kept-alive connections through the event loop's epoll instance, which it shares with its parent:
    the parent then never hears the answers on them (a part's upload waited for its read timeout, or
    for good). The next request opens new ones."""
    s3fs = sys.modules.get("s3fs")  # not imported: no clients (and a local scan need not pay for it)
    if s3fs is None:
        return
    S3FileSystem = s3fs.S3FileSystem
    for store in list(S3FileSystem._cache.values()):
        if store._s3 is not None:
            S3FileSystem.close_session(store.loop, store._s3)
    S3FileSystem.clear_instance_cache()


def byte_ranges(path: str, storage_options: dict[str, Any] | None = None) -> tuple[Fetch, Callable[[], None]]:
    """A function reading bytes [start, end) of a local path or URL (end None: to the file's end;
    fewer where it ends sooner), one ranged request each in a bucket; and one to call when done."""
    if not is_url(path):
        descriptor = os.open(local_path(path), os.O_RDONLY)

        def read_local(start: int, end: int | None) -> bytes:
            length = (end if end is not None else os.fstat(descriptor).st_size) - start
            return os.pread(descriptor, max(0, length), start)

        return read_local, lambda: os.close(descriptor)
    store, object_path = filesystem(path, storage_options)  # with the store's retries
    return lambda start, end: store.cat_file(object_path, start=start, end=end), lambda: None


def read_files(
    paths: Iterable[str], storage_options: dict[str, Any] | None = None, ahead: int = 16
) -> Iterator[bytes]:
    """The whole content of each file, in order. In a bucket, up to `ahead` are fetched at once: each
    is a round trip of its own, and thousands of small objects one after another would take longer
    than reading them; on a disk, one at a time."""
    paths = iter(paths)
    first = next(paths, None)
    if first is None:
        return
    if not is_url(first):
        for path in itertools.chain([first], paths):
            yield Path(local_path(path)).read_bytes()
        return
    store, _ = filesystem(first, storage_options)  # one client, its pool shared by the threads
    with ThreadPoolExecutor(max_workers=ahead, thread_name_prefix="read-files") as pool:
        pending: deque[Future[bytes]] = deque()
        try:
            for path in itertools.chain([first], paths):
                # From 0: one GET (s3fs asks the size first when no range is given).
                pending.append(pool.submit(store.cat_file, path, start=0))
                if len(pending) >= ahead:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:  # stopped early: what is not started yet never starts
                future.cancel()


def staging_file(target: str) -> str:
    """A new empty temporary file to write `target`'s content into before `publish`: beside a
    local target, so publishing is a rename within one file system; in the temp folder for a URL.

    Unlike mkstemp's private 0600 files, it gets the permissions of any new file (0666 less the
    umask), since it becomes the output: a report or a scan output others may need to read.
    """
    if is_url(target):
        folder, prefix = Path(tempfile.gettempdir()), "landmark-tag-"
    else:
        path = Path(local_path(target))
        path.parent.mkdir(parents=True, exist_ok=True)
        folder, prefix = path.parent, f".{path.name}."
    for _ in range(100):
        name = str(folder / f"{prefix}{secrets.token_hex(6)}.partial")
        try:
            os.close(os.open(name, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
            return name
        except FileExistsError:
            continue
    raise FileExistsError(f"cannot create a temporary file in {folder}")


def remove_stale_staging_files(target: str) -> int:
    """Remove the temporary files that earlier writes of a local `target` left when they were
    killed (`.<name>.<hex>.partial` beside it); return how many. Call it only while holding the
    target's lock: no other write of it can be under way then."""
    if is_url(target):
        return 0  # a bucket target is staged in the temp folder, which the system cleans
    path = Path(local_path(target))
    stale = list(path.parent.glob(f".{glob.escape(path.name)}.*.partial")) if path.parent.is_dir() else []
    for file in stale:
        with contextlib.suppress(FileNotFoundError):
            file.unlink()
    return len(stale)


def publish(local_file: str, target: str, storage_options: dict[str, Any] | None = None) -> None:
    """Move a finished local file to `target` in one step: a rename locally, a single PUT remotely."""
    if not is_url(target):
        with contextlib.suppress(FileNotFoundError):  # a replaced file keeps the permissions it had
            os.chmod(local_file, stat.S_IMODE(os.stat(local_path(target)).st_mode))
        os.replace(local_file, local_path(target))
        return
    fs, path = filesystem(target, storage_options)
    try:
        fs.put_file(local_file, path)
    finally:
        os.unlink(local_file)


def exists(path: str, storage_options: dict[str, Any] | None = None) -> bool:
    if not is_url(path):
        return os.path.exists(local_path(path))
    fs, inner = filesystem(path, storage_options)
    return fs.exists(inner)


def remove_file(path: str, storage_options: dict[str, Any] | None = None) -> None:
    if not is_url(path):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(local_path(path))
        return
    fs, inner = filesystem(path, storage_options)
    fs.rm_file(inner)


def remove_tree(path: str, storage_options: dict[str, Any] | None = None) -> None:
    if not is_url(path):
        shutil.rmtree(local_path(path), ignore_errors=True)
        return
    fs, inner = filesystem(path, storage_options)
    if fs.exists(inner):
        fs.rm(inner, recursive=True)


class NotOurs(StorageError):
    """A local file to leave alone: not a regular file, a symbolic link, or read-only. The message
    says which."""


def regular_file_size(path: str, storage_options: dict[str, Any] | None = None) -> int | None:
    """The size of a file to read whole; NotOurs for a local path that is not a regular file
    (through links: a link to a device is a device), which could block or never end."""
    if is_url(path):
        fs, inner = filesystem(path, storage_options)
        return fs.size(inner)
    info = os.stat(local_path(path))
    if not stat.S_ISREG(info.st_mode):
        raise NotOurs("not a regular file")
    return info.st_size


def read_own_file(path: str, limit: int, storage_options: dict[str, Any] | None = None) -> bytes | None:
    """Up to `limit` + 1 bytes of a file the scan may rewrite; None if there is none. Locally only
    a regular, writable file that is not a symbolic link is read (NotOurs says which it is not):
    the others say someone arranged them so."""
    if is_url(path):
        if not exists(path, storage_options):
            return None
        with open_binary(path, storage_options) as handle:
            return handle.read(limit + 1)
    try:
        info = os.lstat(local_path(path))
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(info.st_mode):
        raise NotOurs("is a symbolic link")
    if not stat.S_ISREG(info.st_mode):
        raise NotOurs("is not a regular file")
    if not info.st_mode & stat.S_IWUSR:
        raise NotOurs("is read-only")
    with open(local_path(path), "rb") as handle:
        return handle.read(limit + 1)


def find_files(path: str, suffix: str, storage_options: dict[str, Any] | None = None) -> list[str]:
    """The files under folder `path` whose names end in `suffix` (any case), sorted within each
    folder; `path` itself when it is a file."""
    if is_url(path):
        fs, inner = filesystem(path, storage_options)
        if not fs.isdir(inner):
            return [path]
        return sorted(fs.unstrip_protocol(p) for p in fs.find(inner) if p.lower().endswith(suffix))
    if not os.path.isdir(local_path(path)):
        return [path]
    files: list[str] = []
    for folder, _, names in sorted(os.walk(local_path(path))):
        files += [os.path.join(folder, n) for n in sorted(names) if n.lower().endswith(suffix)]
    return files


def list_folder(folder: str, storage_options: dict[str, Any] | None = None) -> list[str]:
    """The full names of what a folder (or bucket prefix) holds; none where it does not exist."""
    if is_url(folder):
        fs, inner = filesystem(folder, storage_options)
        return [fs.unstrip_protocol(p) for p in fs.ls(inner, detail=False)] if fs.exists(inner) else []
    local = local_path(folder)
    return [os.path.join(local, n) for n in os.listdir(local)] if os.path.isdir(local) else []


def list_objects(url: str, recursive: bool, storage_options: dict[str, Any] | None = None) -> list[dict]:
    """fsspec's details of the objects under a bucket prefix (or of the one object it names):
    name, size, type and a modification time under one of the backends' names."""
    fs, root = filesystem(url, storage_options)
    if fs.isfile(root):
        infos = [fs.info(root)]
    else:
        infos = list(fs.find(root, maxdepth=None if recursive else 1, detail=True).values())
    return [{**info, "name": fs.unstrip_protocol(info["name"])} for info in infos]
