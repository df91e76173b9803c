#include "services/identity/hl7/charset.h"

#include <cstdint>

#include "absl/strings/ascii.h"

namespace hie::hl7 {
namespace {

// The length of the strict UTF-8 sequence at s[i] and its code point in *cp; 0 when invalid.
size_t DecodeUtf8At(std::string_view s, size_t i, char32_t* cp) {
  unsigned char b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) {
    *cp = b0;
    return 1;
  }
  size_t len;
  char32_t min;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2;
    min = 0x80;
    *cp = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3;
    min = 0x800;
    *cp = b0 & 0x0F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4;
    min = 0x10000;
    *cp = b0 & 0x07;
  } else {
    return 0;  // continuation byte, C0/C1 overlong lead (0xC0, 0xC1) or 0xF5-0xFF
  }
  if (s.size() - i < len) return 0;
  for (size_t k = 1; k < len; ++k) {
    unsigned char b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return 0;
    *cp = (*cp << 6) | (b & 0x3F);
  }
  if (*cp < min || *cp > 0x10FFFF || (*cp >= 0xD800 && *cp <= 0xDFFF)) return 0;
  return len;
}

void AppendCodePoint(char32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// ISO-8859-15 differs from ISO-8859-1 in eight positions.
char32_t Latin9CodePoint(unsigned char b) {
  switch (b) {
    case 0xA4:
      return 0x20AC;  // EURO SIGN
    case 0xA6:
      return 0x0160;  // S WITH CARON
    case 0xA8:
      return 0x0161;
    case 0xB4:
      return 0x017D;  // Z WITH CARON
    case 0xB8:
      return 0x017E;
    case 0xBC:
      return 0x0152;  // LIGATURE OE
    case 0xBD:
      return 0x0153;
    case 0xBE:
      return 0x0178;  // Y WITH DIAERESIS
    default:
      return b;
  }
}

bool IsControl(char32_t cp) { return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F); }

}  // namespace

Charset CharsetFromMsh18(std::string_view value) {
  while (!value.empty() && absl::ascii_isspace(static_cast<unsigned char>(value.front()))) {
    value.remove_prefix(1);
  }
  while (!value.empty() && absl::ascii_isspace(static_cast<unsigned char>(value.back()))) {
    value.remove_suffix(1);
  }
  if (value.empty()) return Charset::kUndeclared;
  if (value.size() > 16) return Charset::kUnsupported;
  std::string upper(value);
  for (char& c : upper) c = absl::ascii_toupper(static_cast<unsigned char>(c));
  if (upper == "ASCII" || upper == "ISO IR6") return Charset::kAscii;
  if (upper == "8859/1" || upper == "ISO IR100") return Charset::kLatin1;
  if (upper == "8859/15") return Charset::kLatin9;
  if (upper == "UNICODE UTF-8" || upper == "UTF-8") return Charset::kUtf8;
  return Charset::kUnsupported;
}

std::string_view CharsetName(Charset charset) {
  switch (charset) {
    case Charset::kUndeclared:
      return "UTF-8 (MSH-18 empty)";
    case Charset::kAscii:
      return "ASCII";
    case Charset::kLatin1:
      return "ISO-8859-1";
    case Charset::kLatin9:
      return "ISO-8859-15";
    case Charset::kUtf8:
      return "UTF-8";
    case Charset::kUnsupported:
      return "an unsupported character set";
  }
  return "an unsupported character set";
}

bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    char32_t cp;
    size_t len = DecodeUtf8At(s, i, &cp);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

bool HasControlCharacter(std::string_view s) {
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char b = static_cast<unsigned char>(s[i]);
    if (b < 0x20 || b == 0x7F) return true;
    // C1 in UTF-8: C2 80 .. C2 9F.
    if (b == 0xC2 && i + 1 < s.size()) {
      unsigned char next = static_cast<unsigned char>(s[i + 1]);
      if (next >= 0x80 && next <= 0x9F) return true;
    }
  }
  return false;
}

bool AppendAsUtf8(std::string_view bytes, Charset charset, std::string* out, std::string* problem) {
  out->reserve(out->size() + bytes.size());
  switch (charset) {
    case Charset::kAscii:
    case Charset::kUnsupported:
      for (char c : bytes) {
        if (static_cast<unsigned char>(c) >= 0x80) {
          *problem = charset == Charset::kAscii
                         ? "a byte outside 7-bit ASCII (MSH-18 declares ASCII)"
                         : "a byte outside 7-bit ASCII in an unsupported character set";
          return false;
        }
        out->push_back(c);
      }
      return true;
    case Charset::kLatin1:
    case Charset::kLatin9:
      for (char c : bytes) {
        unsigned char b = static_cast<unsigned char>(c);
        if (b < 0x80) {
          out->push_back(c);
        } else if (b < 0xA0) {
          *problem = charset == Charset::kLatin1
                         ? "a C1 control byte, not valid ISO-8859-1 text (MSH-18 8859/1)"
                         : "a C1 control byte, not valid ISO-8859-15 text (MSH-18 8859/15)";
          return false;
        } else {
          AppendCodePoint(charset == Charset::kLatin1 ? b : Latin9CodePoint(b), out);
        }
      }
      return true;
    case Charset::kUndeclared:
    case Charset::kUtf8: {
      size_t i = 0;
      while (i < bytes.size()) {
        size_t start = i;
        while (i < bytes.size() && static_cast<unsigned char>(bytes[i]) < 0x80) ++i;
        out->append(bytes.data() + start, i - start);
        if (i == bytes.size()) break;
        char32_t cp;
        size_t len = DecodeUtf8At(bytes, i, &cp);
        if (len == 0) {
          *problem = charset == Charset::kUtf8
                         ? "bytes that are not valid UTF-8 (MSH-18 UNICODE UTF-8)"
                         : "bytes that are not UTF-8 and MSH-18 declares no character set";
          return false;
        }
        out->append(bytes.data() + i, len);
        i += len;
      }
      return true;
    }
  }
  *problem = "an unknown character set";
  return false;
}

std::string ToUtf8Lossy(std::string_view bytes, Charset charset) {
  std::string out;
  out.reserve(bytes.size());
  for (size_t i = 0; i < bytes.size();) {
    unsigned char b = static_cast<unsigned char>(bytes[i]);
    char32_t cp = b;
    size_t len = 1;
    bool valid = true;
    if (b >= 0x80) {
      switch (charset) {
        case Charset::kLatin1:
          break;
        case Charset::kLatin9:
          cp = Latin9CodePoint(b);
          break;
        case Charset::kUndeclared:
        case Charset::kUtf8:
          len = DecodeUtf8At(bytes, i, &cp);
          valid = len > 0;
          if (!valid) len = 1;
          break;
        case Charset::kAscii:
        case Charset::kUnsupported:
          valid = false;
          break;
      }
    }
    if (!valid || IsControl(cp)) {
      out.push_back('?');
    } else {
      AppendCodePoint(cp, &out);
    }
    i += len;
  }
  return out;
}

std::string_view TruncateUtf8(std::string_view s, size_t max_bytes) {
  if (s.size() <= max_bytes) return s;
  size_t end = max_bytes;
  // Back up over (at most 3) continuation bytes to the start of the sequence that straddles
  // the cut.
  for (int k = 0; k < 3 && end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80; ++k) {
    --end;
  }
  return s.substr(0, end);
}

}  // namespace hie::hl7
