#include "services/common/demographics.h"

#include <algorithm>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"

namespace hie {
namespace {

using ::hie::common::v1::Sex;

bool AllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// The number written by exactly `width` digits at `at`, or -1.
int Digits(std::string_view s, size_t at, size_t width) {
  if (s.size() < at + width || !AllDigits(s.substr(at, width))) return -1;
  int value = 0;
  for (char c : s.substr(at, width)) value = value * 10 + (c - '0');
  return value;
}

}  // namespace

std::optional<Sex> SexFromCode(std::string_view code) {
  const std::string c =
      absl::AsciiStrToLower(absl::StripAsciiWhitespace({code.data(), code.size()}));
  if (c == "f" || c == "female") return hie::common::v1::SEX_FEMALE;
  if (c == "m" || c == "male") return hie::common::v1::SEX_MALE;
  if (c == "o" || c == "other" || c == "a" || c == "n") return hie::common::v1::SEX_OTHER;
  if (c == "u" || c == "unknown") return hie::common::v1::SEX_UNKNOWN;
  return std::nullopt;
}

std::string_view SexCode(Sex sex) {
  switch (sex) {
    case hie::common::v1::SEX_FEMALE:
      return "F";
    case hie::common::v1::SEX_MALE:
      return "M";
    case hie::common::v1::SEX_OTHER:
      return "O";
    case hie::common::v1::SEX_UNKNOWN:
      return "U";
    default:
      return "";
  }
}

bool IsValidDate(std::string_view d) {
  if (d.size() != 4 && d.size() != 7 && d.size() != 10) return false;
  const int year = Digits(d, 0, 4);
  int month = 1, day = 1;
  if (d.size() >= 7) {
    if (d[4] != '-') return false;
    month = Digits(d, 5, 2);
  }
  if (d.size() == 10) {
    if (d[7] != '-') return false;
    day = Digits(d, 8, 2);
  }
  if (year < 1850 || year > 2200 || month < 1 || month > 12 || day < 1) return false;
  static constexpr int kDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (day > kDays[month - 1]) return false;
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return !(month == 2 && day == 29 && !leap);
}

}  // namespace hie
