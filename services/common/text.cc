#include "services/common/text.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <google/protobuf/reflection.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "services/common/status_macros.h"

namespace hie {
namespace {

// Length of the UTF-8 sequence starting at s[i] and its code point, or 0 when it is not a
// well-formed sequence.
size_t DecodeUtf8(std::string_view s, size_t i, uint32_t* code_point) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char b0 = byte(i);
  if (b0 < 0x80) {
    *code_point = b0;
    return 1;
  }
  size_t length;
  uint32_t cp;
  uint32_t min;
  if ((b0 & 0xE0) == 0xC0) {
    length = 2, cp = b0 & 0x1F, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    length = 3, cp = b0 & 0x0F, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    length = 4, cp = b0 & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (i + length > s.size()) return 0;
  for (size_t k = 1; k < length; ++k) {
    unsigned char b = byte(i + k);
    if ((b & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  *code_point = cp;
  return length;
}

// This Abseil's StrCat takes absl::string_view, which here is not std::string_view.
absl::string_view Absl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

bool IsControl(uint32_t cp) { return cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F); }

absl::Status CheckField(const google::protobuf::Message& message, const std::string& prefix,
                        size_t max_bytes) {
  const google::protobuf::Reflection* reflection = message.GetReflection();
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  reflection->ListFields(message, &fields);
  for (const google::protobuf::FieldDescriptor* field : fields) {
    const std::string name =
        prefix.empty() ? field->name() : absl::StrCat(prefix, ".", field->name());
    const bool repeated = field->is_repeated();
    const int count = repeated ? reflection->FieldSize(message, field) : 1;
    for (int i = 0; i < count; ++i) {
      const std::string path = repeated ? absl::StrCat(name, "[", i, "]") : name;
      if (field->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_STRING &&
          field->type() == google::protobuf::FieldDescriptor::TYPE_STRING) {
        std::string scratch;
        const std::string& value =
            repeated ? reflection->GetRepeatedStringReference(message, field, i, &scratch)
                     : reflection->GetStringReference(message, field, &scratch);
        HIE_RETURN_IF_ERROR(CheckOptionalText(value, path, max_bytes));
      } else if (field->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE) {
        const google::protobuf::Message& nested =
            repeated ? reflection->GetRepeatedMessage(message, field, i)
                     : reflection->GetMessage(message, field);
        HIE_RETURN_IF_ERROR(CheckField(nested, path, max_bytes));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

bool IsValidUtf8(std::string_view s) {
  uint32_t cp = 0;
  for (size_t i = 0; i < s.size();) {
    size_t n = DecodeUtf8(s, i, &cp);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

bool HasControlCharacter(std::string_view s) {
  uint32_t cp = 0;
  for (size_t i = 0; i < s.size();) {
    size_t n = DecodeUtf8(s, i, &cp);
    if (n == 0) {  // not UTF-8: judge the byte alone
      unsigned char b = static_cast<unsigned char>(s[i]);
      if (b < 0x20 || b == 0x7F) return true;
      ++i;
      continue;
    }
    if (IsControl(cp)) return true;
    i += n;
  }
  return false;
}

absl::Status CheckOptionalText(std::string_view value, std::string_view field, size_t max_bytes) {
  if (value.size() > max_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(Absl(field), " is longer than ", max_bytes, " bytes"));
  }
  if (!IsValidUtf8(value)) {
    return absl::InvalidArgumentError(absl::StrCat(Absl(field), " is not valid UTF-8"));
  }
  if (HasControlCharacter(value)) {
    return absl::InvalidArgumentError(absl::StrCat(Absl(field), " contains control characters"));
  }
  return absl::OkStatus();
}

absl::Status CheckText(std::string_view value, std::string_view field, size_t max_bytes) {
  if (value.empty()) return absl::InvalidArgumentError(absl::StrCat(Absl(field), " is required"));
  return CheckOptionalText(value, field, max_bytes);
}

absl::Status CheckMessageText(const google::protobuf::Message& message, size_t max_bytes) {
  return CheckField(message, "", max_bytes);
}

std::string PrintableText(std::string_view s, bool keep_newlines) {
  std::string out;
  out.reserve(s.size());
  uint32_t cp = 0;
  for (size_t i = 0; i < s.size();) {
    size_t n = DecodeUtf8(s, i, &cp);
    if (n == 0) {
      out.append("\xEF\xBF\xBD");  // U+FFFD
      ++i;
      continue;
    }
    if (IsControl(cp) && !(keep_newlines && cp == '\n')) {
      absl::StrAppendFormat(&out, "\\x%02x", cp);
    } else {
      out.append(s.substr(i, n));
    }
    i += n;
  }
  return out;
}

}  // namespace hie
