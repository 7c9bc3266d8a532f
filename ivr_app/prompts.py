"""Prompts: where each one comes from, and rendering text prompts to WAV with espeak-ng.

A prompt is played from, in this order: a recorded file in the sounds directory (a studio
recording always wins), the WAV rendered from its text for the caller's language, or a
FreeSWITCH tone. ``ivr-app prompts build`` renders every text prompt with espeak-ng, through
sox, to 16-bit mono WAV at 8 kHz (what a telephone call carries; FreeSWITCH resamples for
wideband calls) and, beside it, at 16 kHz, cached by a hash of voice, text and rate so an
unchanged prompt is not rendered again. ``check`` runs at start: a prompt that would be
missing mid-call stops the service from starting instead.

Numbers (a queue's position and expected minutes) are spoken by FreeSWITCH's say module for
the caller's language; where FreeSWITCH has none (mod_say_ru is not loaded by a stock
install), the numbers 0-99 rendered here in each language of the menus stand in
(:meth:`PromptStore.number`), never English digits inside a Russian sentence.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ivr_app.errors import ConfigError, IvrAppError
from ivr_app.menus import MenuSet, Prompt

RATES = (8000, 16000)
VOICES = {"en": "en-us", "ru": "ru"}
SAY_NUMBERS = range(100)  # rendered for the say fallback; larger numbers are not announced


def says_numbers(menus: MenuSet) -> bool:
    """Whether a queue of the menus announces a position or a wait (numbers)."""
    return any(q.announce_every_seconds and (q.announce_position or q.announce_wait)
               for q in menus.queues.values())


class PromptBuildError(IvrAppError):
    code = "prompt-build-failed"
    exit_code = 6


@dataclass(frozen=True)
class PromptStore:
    sounds_dir: Path
    cache_dir: Path

    def rendered(self, text: str, language: str, rate: int = 8000) -> Path:
        digest = hashlib.sha256(f"{VOICES.get(language, language)}\n{rate}\n{text}".encode())
        return self.cache_dir / language / str(rate) / f"{digest.hexdigest()[:20]}.wav"

    def path(self, prompt: Prompt, language: str) -> str:
        """What to play for ``prompt`` to a caller speaking ``language``."""
        if prompt.file and (self.sounds_dir / prompt.file).is_file():
            return str(self.sounds_dir / prompt.file)
        if prompt.text:
            text = prompt.text.get(language) or next(iter(prompt.text.values()))
            lang = language if language in prompt.text else next(iter(prompt.text))
            return str(self.rendered(text, lang))
        if prompt.tone:
            return prompt.tone
        return str(self.sounds_dir / (prompt.file or ""))

    def number(self, n: int, language: str) -> str | None:
        """The rendered ``n`` in ``language`` (the say fallback), or None beyond SAY_NUMBERS."""
        return str(self.rendered(str(n), language)) if n in SAY_NUMBERS else None

    def _numbers(self, menus: MenuSet) -> list[tuple[str, str]]:
        if not says_numbers(menus):
            return []
        return [(str(n), lang) for lang in menus.languages for n in SAY_NUMBERS]

    def check(self, menus: MenuSet) -> None:
        """Every prompt playable in every language, or ConfigError (one line each)."""
        problems = []
        for name, p in menus.prompts.items():
            if p.file and (self.sounds_dir / p.file).is_file():
                continue
            if p.text:
                for lang, text in p.text.items():
                    if not self.rendered(text, lang).is_file():
                        problems.append(f"{menus.source}: prompt {name} ({lang}) is not "
                                        "rendered yet: run `ivr-app prompts build`")
            elif p.file:
                problems.append(f"{menus.source}: prompt {name}: {self.sounds_dir / p.file} "
                                "does not exist")
        for lang in sorted({lang for text, lang in self._numbers(menus)
                            if not self.rendered(text, lang).is_file()}):
            problems.append(f"{menus.source}: the queue announcements' numbers ({lang}) are "
                            "not rendered yet: run `ivr-app prompts build`")
        if problems:
            raise ConfigError(problems)

    def build(self, menus: MenuSet, force: bool = False) -> list[Path]:
        """Render every text prompt that has no recorded file; returns the files written."""
        espeak, sox = shutil.which("espeak-ng"), shutil.which("sox")
        if not espeak or not sox:
            raise PromptBuildError("espeak-ng and sox are needed to render prompts "
                                   "(Debian packages espeak-ng and sox)")
        written = []
        for p in menus.prompts.values():
            if p.file and (self.sounds_dir / p.file).is_file():
                continue
            for lang, text in p.text.items():
                written += self._render(espeak, sox, text, lang, force)
        for text, lang in self._numbers(menus):
            written += self._render(espeak, sox, text, lang, force)
        return written

    def _render(self, espeak: str, sox: str, text: str, lang: str, force: bool) -> list[Path]:
        targets = [self.rendered(text, lang, rate) for rate in RATES]
        if not force and all(t.is_file() for t in targets):
            return []
        with tempfile.TemporaryDirectory() as tmp:
            raw = Path(tmp) / "espeak.wav"
            run([espeak, "-v", VOICES.get(lang, lang), "-w", str(raw), "--", text])
            out = []
            for rate, target in zip(RATES, targets, strict=True):
                target.parent.mkdir(parents=True, exist_ok=True)
                part = target.with_suffix(".part.wav")
                run([sox, str(raw), "-r", str(rate), "-c", "1", "-b", "16", str(part)])
                part.replace(target)  # atomic: a half-written prompt is never played
                out.append(target)
        return out


def run(argv: Iterable[str]) -> None:
    args = list(argv)
    proc = subprocess.run(args, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise PromptBuildError(f"{Path(args[0]).name} failed: {proc.stderr.strip()[:300]}")
