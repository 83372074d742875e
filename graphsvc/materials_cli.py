"""``graphsvc materials``: the items of the materials ledger (graphsvc/materials.py) at the
command line: ``items add KEY --label-en … --label-ko …``, ``items list`` and ``balances``."""

from __future__ import annotations

import click

from .model import cli_actor


@click.group("materials")
def materials_group() -> None:
    """The materials ledger: items (bible and hymnal are there from the first use) and balances."""


@materials_group.group("items")
def items_group() -> None:
    """Kinds of materials: add, list."""


@items_group.command("add")
@click.argument("key")
@click.option("--label-en", required=True, help="The name in English (e.g. Tract).")
@click.option("--label-ko", required=True, help="The name in Korean (e.g. 전도지).")
@click.pass_context
def items_add(ctx: click.Context, key: str, label_en: str, label_ko: str) -> None:
    """Add a kind of materials (audited). A visit report may then name it by key or either label."""
    from . import materials
    from .cli import _connect, _fail, _settings
    from .errors import Refused

    with _connect(_settings(ctx)) as db:
        db.apply_schema()
        try:
            added = materials.add_item(db, None, cli_actor(), {"key": key, "label_en": label_en, "label_ko": label_ko})
        except Refused as exc:
            _fail(exc.why)
    click.echo(f"item {added['key']} ({added['label_en']}, {added['label_ko']}) added")


@items_group.command("list")
@click.pass_context
def items_list(ctx: click.Context) -> None:
    """List the items: key, English and Korean names."""
    from . import materials
    from .cli import _connect, _settings

    with _connect(_settings(ctx)) as db:
        for item in materials.items(db):
            click.echo(f"{item['key']}\t{item['label_en']}\t{item['label_ko']}")


@materials_group.command("balances")
@click.option("--holder", default=None, help="One holder's (a username); default: the stock and every holder.")
@click.option("--on", "on", default=None, help="At the end of this day (YYYY-MM-DD); default: now.")
@click.pass_context
def balances_cmd(ctx: click.Context, holder: str | None, on: str | None) -> None:
    """Balances per holder and item (the stock is `-`)."""
    from . import materials
    from .cli import _connect, _fail, _settings
    from .records import parse_date

    day = parse_date(on) if on else None
    if on and day is None:
        _fail(f"--on {on!r} is not a date (YYYY-MM-DD)")
    with _connect(_settings(ctx)) as db:
        for b in materials.balances(db, holder=holder, on=day):
            click.echo(f"{b['holder'] or '-'}\t{b['item']}\t{b['qty']}")
