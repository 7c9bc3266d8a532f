"""Numbers in the caller's language: FreeSWITCH's say module, or the rendered text.

A queue announces the caller's position and expected minutes with ``say_string`` (the files
``say`` would play, mixed over the music). FreeSWITCH speaks a language only when its say
module is loaded (a stock install loads mod_say_en alone) and the language has phrases in its
configuration; otherwise ``say_string`` answers ``-ERR Usage: ...``. Then the number is the one
``ivr-app prompts build`` rendered in that language (prompts.SAY_NUMBERS), never English digits
inside a Russian sentence.

:class:`SayLanguages` asks FreeSWITCH at each control connection (the first, and after every
reconnect: a restarted FreeSWITCH may load other modules) which of the menus' languages it can
say, and logs a warning naming the missing module. A ``say_string`` that fails mid-call teaches
it the same.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gevent
import gevent.event

from ivr_app import supervise
from ivr_app.esl.errors import CommandFailed, EslError
from ivr_app.esl.quoting import Target, quote


class SayLanguages:
    def __init__(self, languages: Callable[[], tuple[str, ...]], log: Any):
        self.languages = languages  # the menus' languages now (a reload may change them)
        self.log = log.bind(component="say")
        self.missing: dict[str, str] = {}  # language -> why FreeSWITCH cannot say it
        self.checked = gevent.event.Event()  # set after each check of a connection

    def attach(self, control: Any) -> SayLanguages:
        control.on_connected.append(
            lambda c: supervise.spawn(self.check, c, log=self.log, what="say languages"))
        return self

    def can_say(self, language: str) -> bool:
        return language not in self.missing

    def check(self, control: Any) -> dict[str, str]:
        """Probe every language of the menus (one ``say_string`` each, and ``module_exists``
        for the one that fails); returns the missing ones with the reason."""
        self.checked.clear()
        missing: dict[str, str] = {}
        try:
            for lang in self.languages():
                why = self._probe(control, lang)
                if why:
                    missing[lang] = why
        except EslError as exc:  # the connection went again: the next one checks anew
            self.log.warning("say languages not checked", error=str(exc))
            return self.missing
        self.missing = missing
        for lang, why in missing.items():
            self.log.warning("FreeSWITCH cannot say numbers in this language: queue "
                             "announcements use the rendered numbers", language=lang, why=why,
                             module=f"mod_say_{lang}")
        self.checked.set()
        return missing

    def _probe(self, control: Any, language: str) -> str | None:
        lang = quote(language, Target.ARG_TOKEN, "menus language")
        try:
            control.api(f"say_string {lang}.wav {lang} number pronounced 1")
            return None
        except CommandFailed:
            pass
        loaded = control.api(f"module_exists mod_say_{lang}").strip() == "true"
        if not loaded:
            return (f"mod_say_{lang} is not loaded (modules.conf.xml: "
                    f'<load module="mod_say_{lang}"/>)')
        return (f"mod_say_{lang} is loaded but say_string fails: no <language name=\"{lang}\"> "
                "in FreeSWITCH's languages section (conf/lang)")

    def learn(self, language: str, error: str) -> None:
        """A ``say_string`` failed mid-call: remember it (and say so, once)."""
        if language in self.missing:
            return
        self.missing[language] = f"say_string failed: {error}"
        self.log.warning("FreeSWITCH cannot say numbers in this language: queue announcements "
                         "use the rendered numbers", language=language, why=self.missing[language],
                         module=f"mod_say_{language}")


def number_files(call: Any, ctx: Any, language: str, number: int, log: Any) -> list[str]:
    """The files that speak ``number`` to a caller of ``language``: FreeSWITCH's say module's,
    else the rendered number; [] when neither can (the announcement leaves that part out)."""
    say: SayLanguages | None = ctx.say
    if say is None or say.can_say(language):
        try:
            files = call.say_string(str(number), language=language)
        except CommandFailed as exc:
            if say is not None:
                say.learn(language, exc.reply)
        else:
            directory = ctx.config.queue.say_dir(language)
            if directory:
                files = [f if f.startswith("/") else f"{directory.rstrip('/')}/{f}"
                         for f in files]
            return files
    rendered = ctx.prompts.number(number, language) if ctx.prompts is not None else None
    if rendered is None:
        log.info("number not announced: no say module and none rendered", number=number,
                 language=language)
        return []
    return [rendered]
