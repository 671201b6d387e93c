"""Valid section bodies to start tests from."""

from __future__ import annotations

from typing import Any


def profile(name: str = "משה לוי", gender: str = "male") -> dict[str, Any]:
    return {
        "personalInfo": {"fullName": name, "preferredName": name.split()[0], "gender": gender, "age": 80},
        "cognitiveMode": "dementia-mild",
        "familyMembers": [{"name": "תפארת", "relationship": "בת", "phone": "050-123-4567"}],
    }


def music(*artists: str) -> dict[str, Any]:
    return {"enabled": True, "preferredArtists": list(artists), "maxSongsPerSession": 3}


def safety() -> dict[str, Any]:
    return {
        "medications": [{"name": "אריספט", "dosage": "5 mg", "times": ["08:00", "20:00"]}],
        "crisisTriggers": [{"phrase": "אני מפחד"}],
    }
