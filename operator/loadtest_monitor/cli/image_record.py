"""Where `images push` leaves the references it pushed, so that `up` installs that operator image.

One JSON file in the user's configuration folder ($XDG_CONFIG_HOME, else ~/.config), one entry per
AWS profile ("" for a push with --registry): a team that pushed to its account's ECR runs
`up --aws-profile P` and gets the image of that account without copying a reference around.
LTM_CONFIG_DIR moves the folder (tests, CI).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class PushedImages:
    operator: str
    runner: str


def record_file() -> Path:
    base = os.environ.get("LTM_CONFIG_DIR") or os.path.join(
        os.environ.get("XDG_CONFIG_HOME") or os.path.join(Path.home(), ".config"), "loadtest-monitor"
    )
    return Path(base) / "images.json"


def _read_all(path: Path) -> dict[str, dict[str, str]]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as err:
        raise SystemExit(f"error: {path}: unreadable ({err}); delete it and run `images push` again") from err
    return {str(k): dict(v) for k, v in (data.get("profiles") or {}).items() if isinstance(v, dict)}


def save(profile: str | None, images: PushedImages) -> Path:
    path = record_file()
    entries = _read_all(path)
    entries[profile or ""] = asdict(images)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"profiles": entries}, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)  # a reader never sees half a file
    return path


def recorded(profile: str | None) -> PushedImages | None:
    """The images `images push` pushed for this AWS profile (None: nothing recorded)."""
    entry = _read_all(record_file()).get(profile or "")
    if not entry or not entry.get("operator"):
        return None
    return PushedImages(operator=str(entry["operator"]), runner=str(entry.get("runner", "")))
