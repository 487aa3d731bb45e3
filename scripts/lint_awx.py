#!/usr/bin/env python3
"""Validate the controller as code (awx/controller.yml) offline, with no AWX server.

Every awx.awx task is templated with awx/defaults.yml, once per loop item, and its arguments
are checked against the module's own argument spec (captured from the bundled collection's
code, so a renamed option, a wrong type or a choice out of range fails here as it would in
the module). Then what the server itself refuses:
- a schedule's rrule: one DTSTART with a time zone (TZID or Z), an INTERVAL in every RRULE,
  no SECONDLY, no numbered BYDAY, not COUNT and UNTIL, COUNT at most 999, no EXDATE/RDATE,
  and a rule that dateutil can expand (the time zone known);
- names: the organisation, project, inventories, credentials, execution environment and
  job templates a task refers to are made by an earlier task;
- a job template's playbook exists in the project, and slices (job_slice_count > 1) only when
  every play of it is per host (no play marked `pmops_orchestrating`, docs/awx.md);
- an inventory source's path exists and its project is not a manual one;
- a survey: AWX's shape (name, description, a non-empty spec; each question a known type,
  a variable used once, `required` a boolean).
Exit 1 naming the task, the loop item and the problem.
"""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONTROLLER = ROOT / "awx" / "controller.yml"
DEFAULTS = ROOT / "awx" / "defaults.yml"
SURVEY_TYPES = {"text", "textarea", "password", "multiplechoice", "multiselect", "integer", "float"}
# Names each kind of object is made under, and the options that refer to one.
MAKES = {"organization": "organization", "project": "project", "inventory": "inventory", "credential": "credential",
         "execution_environment": "execution_environment", "job_template": "job_template",
         "inventory_source": "inventory_source", "schedule": "schedule"}
REFERS = {"organization": "organization", "project": "project", "source_project": "project",
          "inventory": "inventory", "credentials": "credential", "execution_environment": "execution_environment",
          "default_environment": "execution_environment", "unified_job_template": "job_template"}


class _Captured(Exception):
    def __init__(self, spec: dict, kwargs: dict):
        super().__init__("captured")
        self.spec, self.kwargs = spec, kwargs


_SPECS: dict[str, tuple[dict, dict]] = {}


def module_spec(name: str) -> tuple[dict, dict]:
    """The argument spec an awx.awx module builds, and its other rules (mutually_exclusive, ...):
    its main() is run up to the point where it builds the module, which is stopped there."""
    if name not in _SPECS:
        from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder

        _AnsibleCollectionFinder()._install()
        from ansible_collections.awx.awx.plugins.module_utils import controller_api

        def capture(self, argument_spec=None, direct_params=None, error_callback=None, warn_callback=None, **kw):
            spec = dict(controller_api.ControllerModule.AUTH_ARGSPEC)
            spec.update(argument_spec or {})
            raise _Captured(spec, kw)

        saved = controller_api.ControllerModule.__init__
        controller_api.ControllerModule.__init__ = capture
        try:
            module = importlib.import_module(f"ansible_collections.awx.awx.plugins.modules.{name}")
            try:
                module.main()
            except _Captured as got:
                _SPECS[name] = (got.spec, got.kwargs)
            else:
                raise RuntimeError(f"awx.awx.{name}: main() built no module")
        finally:
            controller_api.ControllerModule.__init__ = saved
    return _SPECS[name]


def argument_errors(name: str, args: dict) -> list[str]:
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

    spec, kwargs = module_spec(name)
    rules = {k: v for k, v in kwargs.items()
             if k in ("mutually_exclusive", "required_together", "required_one_of", "required_if", "required_by")}
    return list(ArgumentSpecValidator(spec, **rules).validate(dict(args)).error_messages)


def rrule_errors(rule: str) -> list[str]:
    """AWX's rules for a schedule's rrule (its API refuses the rest), then dateutil's expansion."""
    import dateutil.rrule
    import dateutil.tz

    errors = []
    starts = re.findall(r"DTSTART(;TZID=[^:]+)?:(\d{8}T\d{6})(Z?)", rule)
    if len(starts) != 1:
        errors.append(f"exactly one DTSTART is needed, found {len(starts)}")
    elif not starts[0][0] and not starts[0][2]:
        errors.append("DTSTART needs a time zone (DTSTART;TZID=Asia/Shanghai:... or a UTC time ending in Z)")
    elif starts[0][0] and dateutil.tz.gettz(starts[0][0][len(";TZID="):]) is None:
        errors.append(f"unknown time zone {starts[0][0][len(';TZID='):]!r}")
    if re.search(r"(EX|R)DATE", rule, re.IGNORECASE):
        errors.append("EXDATE and RDATE are not allowed")
    rules = re.findall(r"RRULE:(\S*)", rule)
    if not rules:
        errors.append("no RRULE")
    for one in rules:
        parts = dict(p.split("=", 1) for p in one.split(";") if "=" in p)
        if "INTERVAL" not in parts:
            errors.append(f"RRULE:{one} has no INTERVAL (AWX requires one)")
        if parts.get("FREQ") == "SECONDLY":
            errors.append(f"RRULE:{one}: SECONDLY is not supported")
        if re.search(r"BYDAY=[^;]*[+-]?\d", one):
            errors.append(f"RRULE:{one}: a BYDAY with a number is not supported")
        if "COUNT" in parts and "UNTIL" in parts:
            errors.append(f"RRULE:{one}: COUNT and UNTIL together")
        if "COUNT" in parts and int(parts["COUNT"]) > 999:
            errors.append(f"RRULE:{one}: COUNT over 999")
    if not errors:
        try:
            next(iter(dateutil.rrule.rrulestr(rule, forceset=True)))
        except (ValueError, StopIteration) as exc:
            errors.append(f"dateutil cannot expand it: {exc or 'no occurrence'}")
    return errors


def survey_errors(survey: dict) -> list[str]:
    if not survey:
        return []
    errors = [f"survey: {key} missing" for key in ("name", "description", "spec") if key not in survey]
    spec = survey.get("spec")
    if not isinstance(spec, list) or not spec:
        return errors + ["survey: spec must be a non-empty list"]
    seen = set()
    for n, question in enumerate(spec, 1):
        for key in ("question_name", "variable", "type"):
            if not isinstance(question.get(key), str):
                errors.append(f"survey question {n}: {key} must be a string")
        if question.get("type") not in SURVEY_TYPES:
            errors.append(f"survey question {n}: type {question.get('type')!r} is not one of {sorted(SURVEY_TYPES)}")
        if not isinstance(question.get("required"), bool):
            errors.append(f"survey question {n}: required must be true or false")
        if question.get("variable") in seen:
            errors.append(f"survey question {n}: variable {question.get('variable')!r} asked twice")
        seen.add(question.get("variable"))
    return errors


def orchestrating_plays(playbook: Path, seen: set[Path] | None = None) -> list[str]:
    """The plays of a playbook (and those it imports) marked pmops_orchestrating: not sliceable."""
    import yaml

    seen = seen or set()
    if playbook in seen or not playbook.exists():
        return []
    seen.add(playbook)
    found = []
    for play in yaml.safe_load(playbook.read_text()) or []:
        if "import_playbook" in play or "ansible.builtin.import_playbook" in play:
            target = play.get("ansible.builtin.import_playbook") or play.get("import_playbook")
            found += orchestrating_plays(playbook.parent / target, seen)
        elif (play.get("vars") or {}).get("pmops_orchestrating"):
            found.append(f"{playbook.relative_to(ROOT)}: {play.get('name')}")
    return found


def task_module(task: dict) -> tuple[str, dict] | None:
    for key, value in task.items():
        if key.startswith("awx.awx.") or key.startswith("ansible.controller."):
            return key.rsplit(".", 1)[1], value or {}
    return None


def lint(controller: Path = CONTROLLER, defaults: Path = DEFAULTS) -> list[str]:
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar

    loader = DataLoader()
    plays = loader.load_from_file(str(controller), trusted_as_template=True)
    variables = dict(loader.load_from_file(str(defaults), trusted_as_template=True))
    templar = Templar(loader=loader, variables=variables)
    errors: list[str] = []
    made: dict[str, set[str]] = {kind: set() for kind in MAKES.values()}
    manual_projects: set[str] = set()
    for play in plays:
        shared = dict(templar.template((play.get("module_defaults") or {}).get("group/awx.awx.controller") or {}))
        for task in play.get("tasks") or []:
            found = task_module(task)
            if not found:
                continue
            name, raw = found
            items = templar.template(task["loop"]) if "loop" in task else [None]
            for item in items:
                local = templar.copy_with_new_env(available_variables=dict(variables, item=item))
                args = dict(shared, **dict(local.template(raw)))
                where = f"{controller.relative_to(ROOT)}: task {task.get('name')!r}" + (
                    f" ({args.get('name')})" if item is not None else "")
                errors += [f"{where}: awx.awx.{name}: {e}" for e in argument_errors(name, args)]
                errors += [f"{where}: {e}" for e in semantic_errors(name, args, made, manual_projects)]
                if name in MAKES and args.get("name"):
                    made[MAKES[name]].add(args["name"])
                if name == "project" and args.get("scm_type") == "manual":
                    manual_projects.add(args["name"])
    return errors


def semantic_errors(name: str, args: dict, made: dict[str, set[str]], manual_projects: set[str]) -> list[str]:
    errors = []
    for option, kind in REFERS.items():
        if option == "organization" and name == "organization":
            continue
        wanted = args.get(option)
        for value in wanted if isinstance(wanted, list) else [wanted] if wanted else []:
            if value not in made[kind]:
                errors.append(f"{option} {value!r}: no earlier task makes that {kind.replace('_', ' ')}")
    if name == "schedule":
        errors += [f"rrule {args.get('rrule')!r}: {e}" for e in rrule_errors(str(args.get("rrule") or ""))]
    if name == "job_template":
        playbook = ROOT / str(args.get("playbook") or "")
        if not playbook.is_file():
            errors.append(f"playbook {args.get('playbook')!r} is not in the project")
        elif str(args.get("job_slice_count") or 1).isdigit() and int(args.get("job_slice_count") or 1) > 1:
            errors += [f"job_slice_count {args['job_slice_count']}: {args['playbook']} has a play that needs the "
                       f"whole inventory ({play}); slice only per-host playbooks"
                       for play in orchestrating_plays(playbook)]
        if args.get("survey_enabled"):
            errors += survey_errors(args.get("survey_spec") or {})
    if name == "inventory_source" and args.get("source") == "scm":
        if args.get("source_project") in manual_projects:
            errors.append("an SCM inventory source cannot use a manual project")
        if not (ROOT / str(args.get("source_path") or "")).exists():
            errors.append(f"source_path {args.get('source_path')!r} is not in the project")
    if name == "execution_environment" and ":" not in str(args.get("image", "")).rsplit("/", 1)[-1]:
        errors.append(f"image {args.get('image')!r} has no tag")
    return errors


def main() -> int:
    errors = lint()
    for error in errors:
        print(f"lint_awx: {error}", file=sys.stderr)
    if errors:
        return 1
    print(f"lint_awx: {CONTROLLER.relative_to(ROOT)} valid offline (awx.awx argument specs, rrules, names, "
          "playbooks, slicing, surveys)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
