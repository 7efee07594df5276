"""Units descriptions: MEF's free-text ``units_description`` read as volts, and back.

MEF section 2 stores a channel's units as text ("uV", "microvolts", "mV"...). MNE keeps
voltages in volts, EDF wants a physical dimension of at most 8 characters, BIDS wants
SI symbols; this module is where those views meet.
"""

_PREFIXES = {"": 1.0, "k": 1e3, "m": 1e-3, "u": 1e-6, "n": 1e-9, "p": 1e-12}
_WORDS = {"kilo": "k", "milli": "m", "micro": "u", "nano": "n", "pico": "p"}
_MICRO = ("\N{MICRO SIGN}", "\N{GREEK SMALL LETTER MU}")


def _prefix_and_base(description):
    text = (description or "").strip().lower().replace(" ", "")
    for mu in _MICRO:
        text = text.replace(mu, "u")
    for word, prefix in _WORDS.items():
        if text.startswith(word):
            text = prefix + text[len(word):]
            break
    for base in ("volts", "volt", "v"):
        if text.endswith(base):
            prefix = text[: -len(base)]
            if prefix in _PREFIXES:
                return prefix, "V"
    return None, text


def volts_per_unit(description):
    """Volts per unit of a units description ("uV" -> 1e-6), or None if it is no voltage."""
    prefix, base = _prefix_and_base(description)
    return None if prefix is None else _PREFIXES[prefix]


def short_symbol(description):
    """An ASCII symbol for a voltage description ("microvolts" -> "uV"); other text as given."""
    prefix, _ = _prefix_and_base(description)
    return (description or "").strip() if prefix is None else f"{prefix}V"


def bids_units(description):
    """The units for a BIDS ``channels.tsv`` (micro as the micro sign, as mne-bids writes it)."""
    symbol = short_symbol(description)
    if volts_per_unit(description) is not None and symbol.startswith("u"):
        return "\N{MICRO SIGN}" + symbol[1:]
    return symbol or "n/a"


def voltage_symbol_for(volts):
    """The symbol of the prefix whose unit is `volts` (1e-6 -> "uV"), or None."""
    for prefix, scale in _PREFIXES.items():
        if abs(scale - volts) <= 1e-9 * scale:
            return f"{prefix}V"
    return None
