#include "services/registry/core/redaction.h"

#include <gtest/gtest.h>

#include "services/registry/core/categories.h"

namespace hie::registry {
namespace {

using consent::v1::Obligation;

common::v1::Coding Code(const std::string& system, const std::string& code) {
  common::v1::Coding c;
  c.set_system(system);
  c.set_code(code);
  return c;
}

v1::DocumentEntry Entry(const std::string& loinc, const std::string& label) {
  v1::DocumentEntry e;
  *e.mutable_class_code() = Code(kLoincOid, loinc);
  *e.add_confidentiality_codes() =
      Code("http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "R");
  if (!label.empty()) *e.add_confidentiality_codes() = Code(kActCodeOid, label);
  return e;
}

google::protobuf::RepeatedPtrField<Obligation> One(Obligation::Type type, const std::string& system,
                                                   const std::string& code) {
  google::protobuf::RepeatedPtrField<Obligation> out;
  Obligation* o = out.Add();
  o->set_type(type);
  *o->add_codes() = Code(system, code);
  return out;
}

TEST(RedactionTest, CategoriesAsTheRegistryMapsThem) {
  const auto lab = Entry("11502-2", "");
  EXPECT_TRUE(
      Redaction(One(Obligation::TYPE_REDACT_DATA_CATEGORIES, kHieCategorySystem, "lab-results"))
          .Forbids(lab));
  EXPECT_TRUE(Redaction(One(Obligation::TYPE_REDACT_DATA_CATEGORIES, kLoincSystem, "11502-2"))
                  .Forbids(lab));
  EXPECT_FALSE(
      Redaction(One(Obligation::TYPE_REDACT_DATA_CATEGORIES, kHieCategorySystem, "imaging"))
          .Forbids(lab));
  // A category is not a label, nor the reverse.
  EXPECT_FALSE(
      Redaction(One(Obligation::TYPE_REDACT_SENSITIVITY_LABELS, kHieCategorySystem, "lab-results"))
          .Forbids(lab));
}

TEST(RedactionTest, LabelsInEitherSpelling) {
  const auto hiv = Entry("11502-2", "HIV");
  for (const char* system : {kActCodeSystem, kActCodeOid}) {
    EXPECT_TRUE(
        Redaction(One(Obligation::TYPE_REDACT_SENSITIVITY_LABELS, system, "HIV")).Forbids(hiv));
    EXPECT_FALSE(
        Redaction(One(Obligation::TYPE_REDACT_SENSITIVITY_LABELS, system, "PSY")).Forbids(hiv));
  }
  EXPECT_FALSE(Redaction(One(Obligation::TYPE_REDACT_SENSITIVITY_LABELS, kActCodeSystem, "HIV"))
                   .Forbids(Entry("11502-2", "")));
}

TEST(RedactionTest, NoObligationsForbidNothing) {
  EXPECT_FALSE(Redaction(std::vector<Obligation>{}).Forbids(Entry("11502-2", "HIV")));
  EXPECT_FALSE(Redaction(One(Obligation::TYPE_NO_REDISCLOSURE, kActCodeSystem, "HIV"))
                   .Forbids(Entry("11502-2", "HIV")));
}

}  // namespace
}  // namespace hie::registry
