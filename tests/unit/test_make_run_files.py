"""make run's files that hold secrets are readable by their owner only."""

import json
import stat
from pathlib import Path

from scripts.run_deploy import Airflow, Processes


def test_the_admin_password_file_is_the_owners_only_even_over_an_old_one(tmp_path: Path) -> None:
    home = tmp_path / "airflow"
    home.mkdir()
    old = home / "passwords.json"
    old.write_text(json.dumps({"admin": "from an earlier run"}))
    old.chmod(0o644)

    airflow = Airflow(Processes(tmp_path), "{}", home)

    assert stat.S_IMODE(old.stat().st_mode) == 0o600
    assert json.loads(old.read_text()) == {"admin": airflow.password}
