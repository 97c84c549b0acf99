"""`otrig`: serve a game file, post video frames to it, run, check and debug game files."""
from __future__ import annotations

import typer

from cli import check, cut, demo, extract, golden, probe, report, run, serve, studio

app = typer.Typer(
    name="otrig",
    help=(
        "OverTrack plugin rig. Describe a game's HUD in games/<name>.yaml, serve it as an "
        "OverTrack plugin, and debug it on real frames.\n\n"
        "Examples:\n\n"
        "  otrig serve games/apex.yaml --port 5000\n\n"
        "  otrig extract -r 0.5 vod.mkv http://localhost:5000\n\n"
        "  otrig run games/apex.yaml screenshot.png\n\n"
        "  otrig report games/apex.yaml vod.mkv -o report.html"
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

app.command("serve")(serve.serve)
app.command("extract")(extract.extract)
app.command("run")(run.run)
app.command("check")(check.check)
app.command("schema")(check.schema)
app.command("report")(report.report)
app.command("cut")(cut.cut)
app.command("probe")(probe.probe)
app.command("test")(golden.test)
app.command("demo")(demo.demo)
app.command("studio")(studio.studio)

if __name__ == "__main__":
    app()
