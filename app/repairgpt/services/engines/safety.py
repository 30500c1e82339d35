"""Safety warnings an answer starts with: the guide's own, plus hazards no guide may omit."""

from __future__ import annotations

import re

from repairgpt.services.retrieval import GuideDoc

# Hazards that apply whatever the guide says: (when the question or guide is about it, when
# the guide's own warnings already cover it, the warning).
_GENERIC_HAZARDS: tuple[tuple[re.Pattern[str], re.Pattern[str], dict[str, str]], ...] = (
    (
        re.compile(r"swell|swollen|bulg|膨", re.IGNORECASE),
        re.compile(r"swell|swollen|膨"),
        {
            "en": "A swollen lithium battery can catch fire: do not press, puncture or charge it; "
            "keep it away from anything flammable.",
            "ja": "膨らんだリチウム電池は発火のおそれがあります。押したり穴を開けたり充電したり"
            "せず、燃えやすい物から離してください。",
        },
    ),
    (
        re.compile(r"microwave|電子レンジ", re.IGNORECASE),
        re.compile(r"capacitor|コンデンサ", re.IGNORECASE),
        {
            "en": "A microwave's high-voltage capacitor can hold a lethal charge even when "
            "unplugged: discharge it before touching anything inside.",
            "ja": "電子レンジの高圧コンデンサーはコンセントを抜いた後も致命的な電気を蓄えています。"
            "内部に触れる前に必ず放電してください。",
        },
    ),
)

_MAINS_CATEGORIES = frozenset({"appliance", "home appliance", "家電"})
_MAINS_WARNING = {
    "en": "Unplug the appliance from mains power before you open it.",
    "ja": "分解する前に必ず電源プラグをコンセントから抜いてください。",
}


def safety_warnings(guide: GuideDoc, question: str, language: str) -> list[str]:
    """The guide's warnings, then each generic hazard the question or guide is about."""
    warnings = list(guide.safety_warnings)
    haystack = " ".join((question, guide.title, guide.device_name, *guide.keywords))
    own = " ".join(guide.safety_warnings)
    for applies, covered, text in _GENERIC_HAZARDS:
        if applies.search(haystack) and not covered.search(own):
            warnings.append(text[language])
    if not warnings and (guide.device_category or "").lower() in _MAINS_CATEGORIES:
        warnings.append(_MAINS_WARNING[language])
    return warnings
