#include "services/registry/core/categories.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "services/registry/core/test_entries.h"

namespace hie::registry {
namespace {

std::vector<std::string> Names(const std::vector<common::v1::Coding>& codes) {
  std::vector<std::string> out;
  for (const auto& c : codes) out.push_back(c.system() + "|" + c.code());
  return out;
}

const std::string kAct = std::string(kActCodeSystem) + "|";
const std::string kHie = std::string(kHieCategorySystem) + "|";

TEST(ConsentLabelsOf, TheWrittenMappingRowByRow) {
  struct Row {
    std::string class_system, class_code;
    std::vector<std::pair<std::string, std::string>> confidentiality;
    std::vector<std::string> categories, labels;
  };
  const std::string conf = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality";
  const std::vector<Row> rows = {
      {"http://loinc.org",
       "11488-4",
       {{conf, "N"}},
       {"http://loinc.org|11488-4", kHie + "clinical-notes"},
       {}},
      {"http://loinc.org",
       "11502-2",
       {{conf, "R"}, {kActCodeSystem, "HIV"}},
       {"http://loinc.org|11502-2", kHie + "lab-results"},
       {kAct + "HIV"}},
      {kLoincOid,
       "18748-4",
       {{kActCodeOid, "PSY"}, {kActCodeSystem, "PSY"}},
       {kHie + "imaging", std::string(kLoincOid) + "|18748-4"},
       {kAct + "PSY"}},
      {"http://loinc.org",
       "99999-9",
       {{kActCodeSystem, "ETH"}, {kActCodeSystem, "SEX"}},
       {"http://loinc.org|99999-9"},
       {kAct + "ETH", kAct + "SEX"}},
      {kHieCategorySystem,
       "mental-health-notes",
       {{conf, "V"}},
       {kHie + "mental-health-notes"},
       {}},
      {"urn:oid:1.2.3", "11502-2", {}, {"urn:oid:1.2.3|11502-2"}, {}},  // not LOINC: as given
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.class_code);
    v1::DocumentEntry e = testing::ValidEntry("1.2.3");
    e.mutable_class_code()->set_system(row.class_system);
    e.mutable_class_code()->set_code(row.class_code);
    e.clear_confidentiality_codes();
    for (const auto& [system, code] : row.confidentiality) {
      auto* c = e.add_confidentiality_codes();
      c->set_system(system);
      c->set_code(code);
    }
    ConsentLabels labels = ConsentLabelsOf(e);
    EXPECT_EQ(Names(labels.data_categories), row.categories);
    EXPECT_EQ(Names(labels.sensitivity_labels), row.labels);
  }
}

TEST(ConsentLabelsOf, EveryMappedClassIsLoincShapedAndHasACategory) {
  for (const ClassCategory& m : kClassCategories) {
    EXPECT_NE(std::string(m.loinc).find('-'), std::string::npos) << m.loinc;
    EXPECT_FALSE(std::string(m.category).empty()) << m.loinc;
  }
}

}  // namespace
}  // namespace hie::registry
