"""site.yml's last play: the account files' modes (HARD-09) after a run narrowed by --tags or
--skip-tags, never in a whole run. Its `when` is evaluated here as ansible-playbook would,
with the run's tags parsed by ansible-playbook's own parser: ansible-core 2.19 hands them out
as tuples, so a comparison with a list literal is always true."""

from __future__ import annotations

from pathlib import Path

import pytest
from ansible import context
from ansible.cli.playbook import PlaybookCLI
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar
from ansible.utils.context_objects import CLIArgs
from ansible.utils.vars import load_options_vars

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def last_play():
    loader = DataLoader()
    play = loader.load_from_file(str(ROOT / "playbooks" / "site.yml"), trusted_as_template=True)[-1]
    saved = context.CLIARGS
    yield loader, play
    context.CLIARGS = saved
    load_options_vars.options_vars = None


def runs_with(loader, play, *args: str) -> bool:
    cli = PlaybookCLI(["ansible-playbook", "playbooks/site.yml", *args])
    cli.init_parser()
    context.CLIARGS = CLIArgs.from_options(cli.post_process_args(cli.parser.parse_args(cli.args[1:])))
    load_options_vars.options_vars = None  # ansible-core caches the run's options
    variables = load_options_vars("2.19")
    assert isinstance(variables["ansible_run_tags"], tuple)
    return Templar(loader=loader, variables=variables).evaluate_conditional(play["tasks"][0]["when"])


@pytest.mark.parametrize("args, expected", [
    ((), False),
    (("--check", "--diff"), False),
    (("--tags", "all"), False),
    (("--limit", "db"), False),
    (("--tags", "access"), True),
    (("--tags", "app,antimalware"), True),
    (("--skip-tags", "firewall"), True),
    (("--tags", "all", "--skip-tags", "backup"), True),
])
def test_the_account_files_play_runs_only_in_a_narrowed_run(last_play, args, expected):
    loader, play = last_play
    assert runs_with(loader, play, *args) is expected


def test_it_sets_the_modes_through_the_hardening_role_whatever_the_tags_unless_hardening_is_skipped(last_play):
    _, play = last_play
    task = play["tasks"][0]
    include = task["ansible.builtin.include_role"]
    assert (include["name"], include["tasks_from"]) == ("hardening", "account_files")
    assert set(task["tags"]) == set(include["apply"]["tags"]) == {"always", "hardening"}
    assert play["hosts"] == "pmops"
