#include "services/member/core/obligations.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "services/member/core/test_data.h"
#include "services/registry/core/categories.h"

namespace hie::member {
namespace {

using consent::v1::Obligation;
using testing::Code;

registry::v1::DocumentEntry Entry(const std::string& loinc, const std::string& label) {
  registry::v1::DocumentEntry e;
  *e.mutable_class_code() = Code(registry::kLoincOid, loinc);
  *e.add_confidentiality_codes() =
      Code("http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "R");
  if (!label.empty()) *e.add_confidentiality_codes() = Code(registry::kActCodeOid, label);
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
  EXPECT_TRUE(Redaction(One(Obligation::TYPE_REDACT_DATA_CATEGORIES, registry::kHieCategorySystem,
                            "lab-results"))
                  .Forbids(lab));
  EXPECT_TRUE(
      Redaction(One(Obligation::TYPE_REDACT_DATA_CATEGORIES, registry::kLoincSystem, "11502-2"))
          .Forbids(lab));
  EXPECT_FALSE(Redaction(One(Obligation::TYPE_REDACT_DATA_CATEGORIES, registry::kHieCategorySystem,
                             "imaging"))
                   .Forbids(lab));
  // A category is not a label, nor the reverse.
  EXPECT_FALSE(Redaction(One(Obligation::TYPE_REDACT_SENSITIVITY_LABELS,
                             registry::kHieCategorySystem, "lab-results"))
                   .Forbids(lab));
}

TEST(RedactionTest, LabelsInEitherSpelling) {
  const auto hiv = Entry("11502-2", "HIV");
  for (const char* system : {registry::kActCodeSystem, registry::kActCodeOid}) {
    EXPECT_TRUE(
        Redaction(One(Obligation::TYPE_REDACT_SENSITIVITY_LABELS, system, "HIV")).Forbids(hiv));
    EXPECT_FALSE(
        Redaction(One(Obligation::TYPE_REDACT_SENSITIVITY_LABELS, system, "PSY")).Forbids(hiv));
  }
  EXPECT_FALSE(
      Redaction(One(Obligation::TYPE_REDACT_SENSITIVITY_LABELS, registry::kActCodeSystem, "HIV"))
          .Forbids(Entry("11502-2", "")));
}

TEST(RedactionTest, NoObligationsForbidNothing) {
  EXPECT_FALSE(Redaction({}).Forbids(Entry("11502-2", "HIV")));
  EXPECT_FALSE(Redaction(One(Obligation::TYPE_NO_REDISCLOSURE, registry::kActCodeSystem, "HIV"))
                   .Forbids(Entry("11502-2", "HIV")));
}

TEST(CheckObligationsTest, NamesTheField) {
  google::protobuf::RepeatedPtrField<Obligation> obligations =
      One(Obligation::TYPE_REDACT_SENSITIVITY_LABELS, registry::kActCodeSystem, "HIV");
  EXPECT_TRUE(CheckObligations(obligations).ok());
  obligations.Add()->set_type(Obligation::TYPE_AUDIT_AS_BREAK_GLASS);
  obligations[1].set_directive_id("bad\ncontrol");
  EXPECT_EQ(CheckObligations(obligations).message(),
            "obligations[1].directive_id contains control characters");
  for (int i = 0; i < 100; ++i) obligations.Add()->set_type(Obligation::TYPE_NO_REDISCLOSURE);
  EXPECT_EQ(CheckObligations(obligations).message(), "obligations has more than 100 entries");
}

}  // namespace
}  // namespace hie::member
