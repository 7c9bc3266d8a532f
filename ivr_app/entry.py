"""Console entry point. gevent is monkey-patched here, once, before anything imports socket."""

from gevent import monkey

monkey.patch_all()

from ivr_app.cli import cli  # noqa: E402  (must come after patch_all)


def main() -> None:
    cli(prog_name="ivr-app")


if __name__ == "__main__":
    main()
