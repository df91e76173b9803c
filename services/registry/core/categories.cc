#include "services/registry/core/categories.h"

#include <algorithm>
#include <string_view>
#include <tuple>

namespace hie::registry {
namespace {

using common::v1::Coding;

Coding Code(std::string_view system, std::string_view code) {
  Coding c;
  c.set_system(std::string(system));
  c.set_code(std::string(code));
  return c;
}

void SortUnique(std::vector<Coding>* codes) {
  auto key = [](const Coding& c) { return std::tie(c.system(), c.code()); };
  std::sort(codes->begin(), codes->end(),
            [&](const Coding& a, const Coding& b) { return key(a) < key(b); });
  codes->erase(std::unique(codes->begin(), codes->end(),
                           [&](const Coding& a, const Coding& b) { return key(a) == key(b); }),
               codes->end());
}

}  // namespace

ConsentLabels ConsentLabelsOf(const v1::DocumentEntry& entry) {
  ConsentLabels out;
  for (const Coding& c : entry.confidentiality_codes()) {
    if (c.system() == kActCodeSystem || c.system() == kActCodeOid) {
      out.sensitivity_labels.push_back(Code(kActCodeSystem, c.code()));
    }
  }
  const Coding& cls = entry.class_code();
  if (!cls.code().empty()) {
    out.data_categories.push_back(Code(cls.system(), cls.code()));
    if (cls.system() == kLoincSystem || cls.system() == kLoincOid) {
      for (const ClassCategory& m : kClassCategories) {
        if (cls.code() == m.loinc)
          out.data_categories.push_back(Code(kHieCategorySystem, m.category));
      }
    }
  }
  SortUnique(&out.data_categories);
  SortUnique(&out.sensitivity_labels);
  return out;
}

}  // namespace hie::registry
