#include "services/member/core/obligations.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "services/member/core/test_data.h"
#include "services/registry/core/categories.h"

namespace hie::member {
namespace {

using consent::v1::Obligation;
using testing::Code;

google::protobuf::RepeatedPtrField<Obligation> One(Obligation::Type type, const std::string& system,
                                                   const std::string& code) {
  google::protobuf::RepeatedPtrField<Obligation> out;
  Obligation* o = out.Add();
  o->set_type(type);
  *o->add_codes() = Code(system, code);
  return out;
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
