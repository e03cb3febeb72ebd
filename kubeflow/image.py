"""The pipeline image: where the project lives inside it, and its build context.

The image is built from the repository root with ``kubeflow/Dockerfile``
(targets ``cpu`` and ``gpu``); ``.dockerignore`` keeps the context small. The
project is copied to ``IMAGE_ROOT`` and installed there as the ``tfxp``
package (editable, so each folder stays where the checkout has it): the
module file TFX imports is ``/app/models/tfx_module/module_file.py`` and
executor classes such as ``tfxp.components.pusher.AtomicPushExecutor`` import
from ``/app/components/pusher.py``.

``python -m tfxp.kubeflow.image stage-data /app`` runs inside the image build and
puts the taxi CSV (from the installed tfx wheel) at ``/app/data/chicago_taxi``,
beside the Fashion-MNIST and Rotten Tomatoes files copied from ``data/``, so a
compiled pipeline runs without any bucket for its input data.
"""
from __future__ import annotations

import argparse
import os
import posixpath
import re
import shutil
from pathlib import Path
from typing import List, Optional

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = PROJECT_ROOT / "kubeflow" / "Dockerfile"
DOCKERIGNORE = PROJECT_ROOT / ".dockerignore"
IMAGE_ROOT = "/app"
IMAGE_DATA_DIR = f"{IMAGE_ROOT}/data"
IMAGE_TAXI_DIR = f"{IMAGE_DATA_DIR}/chicago_taxi"


def image_path(local_path: str | os.PathLike) -> str:
    """The in-image path of a file of this checkout.

    Raises:
      ValueError: ``local_path`` lies outside the project.
    """
    path = Path(local_path).resolve()
    try:
        rel = path.relative_to(PROJECT_ROOT)
    except ValueError:
        raise ValueError(f"{str(path)!r} is outside the project {str(PROJECT_ROOT)!r}, "
                         f"so it is not in the image") from None
    return posixpath.join(IMAGE_ROOT, *rel.parts)


def context_path(in_image_path: str, context_root: str | os.PathLike) -> Path:
    """Where an ``IMAGE_ROOT`` path of the image lies in a build context.

    Raises:
      ValueError: the path is not under ``IMAGE_ROOT``.
    """
    prefix = IMAGE_ROOT + "/"
    if not in_image_path.startswith(prefix):
        raise ValueError(f"{in_image_path!r} is not under the image's {IMAGE_ROOT}")
    return Path(context_root, *in_image_path[len(prefix):].split("/"))


def dockerfile_copy_sources(dockerfile: str | os.PathLike = DOCKERFILE) -> List[str]:
    """Context paths that the Dockerfile's ``COPY``/``ADD`` instructions read.

    Copies from another stage or image (``--from=``) are left out; line
    continuations are joined. Sources are returned as written (relative to
    the context root).
    """
    text = Path(dockerfile).read_text().replace("\\\n", " ")
    sources = []
    for line in text.splitlines():
        words = line.split()
        if not words or words[0].upper() not in ("COPY", "ADD"):
            continue
        args = words[1:]
        if any(a.startswith("--from=") for a in args):
            continue
        args = [a for a in args if not a.startswith("--")]
        sources.extend(args[:-1])  # the last word is the destination
    return sources


def _pattern_regex(pattern: str) -> "re.Pattern":
    """A .dockerignore pattern (Go ``filepath.Match`` plus ``**``) as a regex."""
    regex, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            regex, i = regex + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            regex, i = regex + ".*", i + 2
        else:
            ch = pattern[i]
            regex += "[^/]*" if ch == "*" else "[^/]" if ch == "?" else re.escape(ch)
            i += 1
    return re.compile(regex + r"\Z")


def _ignore_rules(dockerignore: Path) -> List[tuple]:
    """(pattern, regex, excluded) of each .dockerignore line, in file order."""
    rules = []
    if not dockerignore.exists():
        return rules
    for raw in dockerignore.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        excluded = not line.startswith("!")
        pattern = posixpath.normpath(line.lstrip("!").strip("/"))
        rules.append((pattern, _pattern_regex(pattern), excluded))
    return rules


def is_ignored(rel_path: str, rules) -> bool:
    """Docker's rule: the last matching pattern decides; a pattern matching a
    folder covers everything below it."""
    parts = rel_path.split("/")
    candidates = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    ignored = False
    for _, regex, excluded in rules:
        if any(regex.match(c) for c in candidates):
            ignored = excluded
    return ignored


def _may_reinclude(rel_dir: str, rules) -> bool:
    return any(not excluded and (pattern.startswith(rel_dir + "/") or "**" in pattern)
               for pattern, _, excluded in rules)


def build_context(dest: str | os.PathLike, root: Path = PROJECT_ROOT) -> List[str]:
    """Copies the Docker build context of ``root`` (minus ``.dockerignore``) to ``dest``.

    This is what ``docker build -f kubeflow/Dockerfile .`` sends to the daemon,
    e.g. to feed kaniko or to inspect it. Returns the copied relative paths.
    """
    rules = _ignore_rules(root / ".dockerignore")
    copied = []
    for folder, dirs, files in os.walk(root):
        rel_folder = Path(folder).relative_to(root).as_posix()
        rel_folder = "" if rel_folder == "." else rel_folder + "/"
        # An ignored folder is skipped whole unless some "!" pattern could
        # re-include a file below it.
        dirs[:] = sorted(d for d in dirs if not is_ignored(rel_folder + d, rules)
                         or _may_reinclude(rel_folder + d, rules))
        for name in sorted(files):
            rel = rel_folder + name
            if is_ignored(rel, rules):
                continue
            target = Path(dest, rel)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(Path(folder, name), target)
            copied.append(rel)
    return copied


def stage_data(app_root: str = IMAGE_ROOT) -> str:
    """Copies the taxi CSV folder of the installed tfx wheel to
    ``<app_root>/data/chicago_taxi`` (the image's default tabular data root).

    Returns the folder written.
    """
    from tfxp.core.datasets import taxi_csv_dir

    target = os.path.join(app_root, "data", "chicago_taxi")
    shutil.copytree(taxi_csv_dir(), target, dirs_exist_ok=True)
    return target


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tfxp.kubeflow.image")
    sub = parser.add_subparsers(dest="command", required=True)
    stage = sub.add_parser("stage-data", help="copy the taxi CSV into APP_ROOT/data")
    stage.add_argument("app_root", nargs="?", default=IMAGE_ROOT)
    args = parser.parse_args(argv)
    print(stage_data(args.app_root))


if __name__ == "__main__":
    main()
