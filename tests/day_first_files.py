"""Files as bank and ERP exports write them, for the day-first date tests: ';'-delimited
Windows-1252 with decimal commas, accents, a 'Betrag (€)' header and 'dd.mm.yyyy HH:MM' dates
over many days; plus month-first (US Excel) and ambiguous (every day <= 12) variants."""
from __future__ import annotations

import numpy as np
import pandas as pd

START = pd.Timestamp("2026-01-03 08:00")
NAMES = ["Zoë Müller", "Jürgen Groß", "Anaïs Lefèvre", "Søren Ærø", "Ana Peña"]
TEXTS = ["Épicerie Rößler", "Überweisung Miete", "Café Brühl", "Gehalt Dezember", "Lastschrift Strom"]


def bank_frame(n: int = 500, seed: int = 11, days: int = 300) -> pd.DataFrame:
    """``n`` bookings spread over ``days`` days from 3 Jan 2026 (so days run past 12)."""
    rng = np.random.default_rng(seed)
    when = START + pd.to_timedelta(np.sort(rng.integers(0, days * 24 * 60, n)), unit="min")
    amount = np.round(rng.normal(-50, 900, n), 2)
    return pd.DataFrame({
        "Buchungs-Nr": [f"{i:06d}" for i in range(1, n + 1)],
        "when": when,
        "Empfänger": rng.choice(NAMES, n),
        "Verwendungszweck": rng.choice(TEXTS, n),
        "Betrag (€)": amount,
        "Saldo": np.round(10_000 + np.cumsum(amount), 2),
    })


def _comma(x: float) -> str:
    """-1234.5 as German Excel writes it: -1.234,50."""
    text = f"{x:,.2f}"
    return text.replace(",", "_").replace(".", ",").replace("_", ".")


def write_bank(path, frame: pd.DataFrame, date_format: str = "%d.%m.%Y %H:%M") -> str:
    """``frame`` as the bank's export: ';', Windows-1252, decimal commas, dates in ``date_format``."""
    out = frame.copy()
    out.insert(1, "Buchungsdatum", out.pop("when").dt.strftime(date_format))
    for column in ("Betrag (€)", "Saldo"):
        out[column] = out[column].map(_comma)
    out.to_csv(path, sep=";", index=False, encoding="cp1252")
    return str(path)


def ambiguous_frame(n: int = 120, seed: int = 5) -> pd.DataFrame:
    """Bookings on days 1-12 of each month only: day-first and month-first both read them."""
    frame = bank_frame(n, seed)
    day = frame["when"].dt.day
    frame["when"] = frame["when"] - pd.to_timedelta(day - ((day - 1) % 12 + 1), unit="D")  # same month, day 1-12
    return frame
