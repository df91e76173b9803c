#!/usr/bin/env python3
"""Writes the hl7_fuzz seed corpus: one small file per hostile case (fuzz_corpus/README.md).

    python3 services/identity/hl7/make_fuzz_corpus.py   # rewrites services/identity/hl7/fuzz_corpus

Deterministic; every file stays under 100 KB and the directory under 1 MiB. Inputs that the
fuzzer finds and that led to a fix are added by hand (named after the fix) and kept by this
script (it only rewrites the files it generates).
"""

import os
import sys

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fuzz_corpus")


def msh(trigger="A04", charset=b"", control=b"C1", time=b"20240101120000", facility=b"CLINIC"):
    line = (b"MSH|^~\\&|EMR|" + facility + b"|HUB|HIE|" + time + b"||ADT^" + trigger.encode() +
            b"|" + control + b"|P|2.5.1")
    if charset:
        line += b"||||||" + charset
    return line + b"\r"


def evn(trigger="A04", time=b"20240101115900"):
    return b"EVN|" + trigger.encode() + b"|" + time + b"\r"


def pid(name=b"DOE^JANE", ids=b"M1^^^H^MR", rest=b"||19800102|F", n=1):
    return b"PID|" + str(n).encode() + b"||" + ids + b"||" + name + rest + b"\r"


def a04(name=b"DOE^JANE", charset=b"", **kw):
    return msh("A04", charset, **kw) + evn() + pid(name)


CASES = {}


def case(name, data):
    assert name not in CASES, name
    assert len(data) < 100_000, name
    CASES[name] = data


# Character sets.
case("latin1_msh18_8859_1", a04(b"M\xfcller^J\xf6rg", b"8859/1"))
case("latin1_without_msh18", a04(b"M\xfcller^J\xf6rg"))
case("latin1_c1_control", a04(b"M\x85ller^J", b"8859/1"))
case("latin9_msh18_8859_15", a04(b"\xa6tef\xa4n^J", b"8859/15"))
case("ascii_msh18_with_high_byte", a04(b"M\xfcller^J", b"ASCII"))
case("utf8_msh18_valid", a04("Müller^Jörg 😀".encode(), b"UNICODE UTF-8"))
case("utf8_without_msh18_valid", a04("Müller^Jörg".encode()))
case("utf8_overlong", a04(b"\xc0\xafDOE^J", b"UNICODE UTF-8"))
case("utf8_overlong_nul", a04(b"DO\xc0\x80E^J", b"UNICODE UTF-8"))
case("utf8_overlong_three_bytes", a04(b"\xe0\x80\xafDOE^J", b"UNICODE UTF-8"))
case("utf8_overlong_four_bytes", a04(b"\xf0\x80\x80\xafDOE^J", b"UNICODE UTF-8"))
case("utf8_surrogate", a04(b"DOE\xed\xa0\x80^J", b"UNICODE UTF-8"))
case("utf8_above_10ffff", a04(b"DOE\xf4\x90\x80\x80^J", b"UNICODE UTF-8"))
case("utf8_f5_lead", a04(b"DOE\xf5\x80\x80\x80^J", b"UNICODE UTF-8"))
case("utf8_truncated", a04(b"DOE\xe2\x82^J", b"UNICODE UTF-8"))
case("utf8_truncated_at_end", a04(b"DOE^J\xf0\x9f\x98", b"UNICODE UTF-8"))
case("utf8_stray_continuation", a04(b"DOE\x80^J", b"UNICODE UTF-8"))
case("utf8_c1_control", a04(b"DOE\xc2\x9b31m^J", b"UNICODE UTF-8"))
case("msh18_unsupported_8859_2", a04(b"DOE^J", b"8859/2"))
case("msh18_unicode_utf16", a04(b"DOE^J", b"UNICODE UTF-16"))
case("msh18_repeated", a04(b"M\xfcller^J", b"8859/1~UNICODE UTF-8"))
case("msh18_lowercase_utf8", a04("Müller^J".encode(), b"utf-8"))
case("msh18_escaped", a04(b"DOE^J", b"8859\\F\\1"))

# \X escapes.
case("hex_latin1", a04(b"M\\XFC\\ller^J", b"8859/1"))
case("hex_utf8", a04(b"M\\XC3BC\\ller^J", b"UNICODE UTF-8"))
case("hex_utf8_split_over_escapes", a04(b"M\\XC3\\\\XBC\\ller^J", b"UNICODE UTF-8"))
case("hex_latin1_under_utf8", a04(b"M\\XFC\\ller^J", b"UNICODE UTF-8"))
case("hex_odd_digits", a04(b"\\X4\\DOE^J"))
case("hex_not_hex", a04(b"\\XZZ\\DOE^J"))
case("hex_empty", a04(b"\\X\\DOE^J"))
case("hex_nul", a04(b"DO\\X00\\E^J"))
case("hex_escape_char", a04(b"DOE\\X1B5B324A\\^J"))
case("hex_cr_lf", a04(b"DOE\\X0D0A\\^J"))
case("hex_unterminated", a04(b"DOE\\X41"))
case("hex_huge", a04(b"\\X" + b"41" * 40_000 + b"\\^J"))
case("hex_many", a04(b"\\X41\\" * 15_000 + b"^J"))

# \C and \M escapes, formatting escapes, odd escapes.
case("charset_escape_latin1_in_ascii", a04(b"M\\C2D41\\\xfc\\C2842\\ller^J", b"ASCII"))
case("charset_escape_latin1_in_utf8", a04(b"M\\C2D41\\\xfcller^J", b"UNICODE UTF-8"))
case("charset_escape_back_then_high", a04(b"M\\C2D41\\\xfc\\C2842\\\xfc^J", b"ASCII"))
case("charset_escape_unsupported", a04(b"\\C2D42\\DOE^J"))
case("charset_escape_garbage", a04(b"\\Cxyz\\DOE^J"))
case("charset_escape_g0_jis", a04(b"\\C284A\\DOE^J"))
case("multibyte_escape", a04(b"\\M2442\\DOE^J"))
case("multibyte_escape_short", a04(b"\\M\\DOE^J"))
case("multibyte_escape_long", a04(b"\\M242844\\DOE^J"))
case("formatting_escapes", a04(b"\\H\\DOE\\N\\^J\\.br\\O\\.sp2\\X\\.in+4\\\\.sk3\\\\Zlocal\\"))
case("unknown_escape", a04(b"A\\Q\\B^C\\\\D"))
case("delimiter_escapes", a04(b"O\\S\\B\\F\\\\T\\\\R\\\\E\\^J"))
case("escape_characters_only", a04(b"\\" * 999 + b"^J"))

# Control characters in values that are mapped.
case("esc_in_name", a04(b"DOE\x1b[2J\x1b]0;owned\x07^J"))
case("nul_in_name", a04(b"DO\x00E^J"))
case("del_in_name", a04(b"DOE\x7f^J"))
case("tab_in_name", a04(b"DOE\tX^J"))
case("esc_in_msh10", a04(control=b"C\x1b1"))
case("latin1_in_msh4_and_msh10", a04(control=b"C\xfc1", facility=b"K\xd6LN"))
case("latin1_in_msh4_declared", a04(charset=b"8859/1", control=b"C\xfc1", facility=b"K\xd6LN"))
case("esc_in_mrg", msh("A40") + pid() + b"MRG|P\x1b1^^^H^MR\r")
case("nul_in_evn2", msh("A04") + b"EVN|A04|2024\x000101\r" + pid())

# Sizes: repetitions, components, segments, fields, A40 groups.
case("pid3_999_repetitions", msh() + pid(ids=b"~".join(b"ID%d^^^H^MR" % i for i in range(999))))
case("pid3_3000_repetitions", msh() + pid(ids=b"~".join(b"I%d" % i for i in range(3000))))
case("pid3_repetition_separators", msh() + pid(ids=b"M1" + b"~" * 5000))
case("pid5_deep_components", msh() + pid(name=b"DOE^JANE" + b"^" * 20_000))
case("pid3_deep_subcomponents", msh() + pid(ids=b"M1^^^H" + b"&" * 20_000 + b"^MR"))
case("pid13_many_phones",
     msh() + b"PID|1||M1||DOE^J|||||||" + b"~".join(b"^PRN^PH^x%d@e.org^1^555^%07d" % (i, i)
                                                  for i in range(900)) + b"\r")
case("segments_4999", msh() + evn() + pid() + b"NTE|1\r" * 4996)
case("segments_5001", msh() + evn() + pid() + b"NTE|1\r" * 4998)
case("fields_500", msh() + pid(rest=b"|" * 490))
case("fields_501", msh() + pid(rest=b"|" * 500))
case("a40_many_groups", msh("A40") + evn("A40") + b"PID|||1||A\rMRG|2\r" * 2400)
case("a40_groups_with_pv1", msh("A40") + (pid() + b"PD1|1\rPV1|1\rMRG|P1^^^H^MR\r") * 50)
case("a40_mrg_without_pid", msh("A40") + b"MRG|P1\r" + pid())
case("a37_two_patients", msh("A37") + pid(n=1) + b"PV1|1\r" + pid(ids=b"M2", n=2))
case("a37_one_patient", msh("A37") + pid())

# MSH-1/MSH-2 oddities.
case("msh2_without_escape", b"MSH|^~|EMR|C|HUB|HIE|20240101||ADT^A04|C1|P|2.5\rPID|1||M1\\X41\\||D\r")
case("msh2_with_truncation_char", b"MSH|^~\\&#|EMR|C|HUB|HIE|20240101||ADT^A04|C1|P|2.7\r" + pid())
case("msh2_duplicate_chars", b"MSH|^^\\&|EMR|C|HUB|HIE|20240101||ADT^A04|C1|P|2.5\r" + pid())
case("msh2_too_long", b"MSH|^~\\&#$|EMR|C\r")
case("msh2_one_char", b"MSH|^|EMR|C\r")
case("msh2_alnum", b"MSH|A~\\&|EMR|C\r")
case("msh1_alnum", b"MSHA^~\\&AEMR\r")
case("msh_custom_delimiters",
     b"MSH#*@!%#EMR#C#H#F#20240101##ADT*A04#C!F!1#P#2.5\rPID#1##M1*!S!*!T!@M2##D!XFC!E*J\r")
case("msh_custom_delimiters_latin1",
     b"MSH#*@!%#EMR#C#H#F#20240101##ADT*A04#C1#P#2.5######8859/1\rPID#1##M1##M!XFC!LLER*J\r")
case("msh_only", b"MSH|")
case("msh_truncated_enc", b"MSH|^")
case("empty", b"")
case("bom_only", b"\xef\xbb\xbf")
case("binary", bytes(range(256)))

# Batches and line ends.
case("batch_fhs_bhs",
     b"FHS|^~\\&|EMR|C\rBHS|^~\\&|EMR|C\r" + a04() + a04(control=b"C2") + b"BTS|2\rFTS|1\r")
case("two_msh", a04() + a04(control=b"C2"))
case("line_ends_lf", a04().replace(b"\r", b"\n"))
case("line_ends_crlf", a04().replace(b"\r", b"\r\n"))
case("line_ends_mixed", msh() + b"\n" + evn().replace(b"\r", b"\r\n") + b"\n\n" + pid())
case("bom_and_lf", b"\xef\xbb\xbf" + a04().replace(b"\r", b"\n"))
case("blank_lines", b"\r\n \t\r" + a04() + b"\r\r\n\n")
case("mllp_framed", b"\x0b" + a04() + b"\x1c\r")

# Times.
case("evn2_invalid", msh() + evn(time=b"20241301") + pid())
case("evn2_feb30", msh() + evn(time=b"20240230") + pid())
case("evn2_offset_and_fraction", msh() + evn(time=b"20240229235959.1234-1400") + pid())
case("evn2_with_precision_component", msh() + evn(time=b"2024^Y") + pid())
case("msh7_invalid", msh(time=b"2024-01-01") + evn() + pid())
case("msh7_offset_out_of_range", msh(time=b"20240101+1500") + pid())
case("msh7_year_only_no_evn", msh(time=b"2024") + pid())
case("times_both_empty", msh(time=b"") + b"EVN|A04\r" + pid())


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, data in CASES.items():
        with open(os.path.join(OUT, name + ".hl7"), "wb") as f:
            f.write(data)
    total = sum(os.path.getsize(os.path.join(OUT, n)) for n in os.listdir(OUT))
    print(f"{len(CASES)} cases, {total} bytes in {OUT}")
    return 0 if total < (1 << 20) else 1


if __name__ == "__main__":
    sys.exit(main())
