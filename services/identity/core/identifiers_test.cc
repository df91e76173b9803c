#include "services/identity/core/identifiers.h"

#include <gtest/gtest.h>

#include "services/common/demographics.h"

namespace hie::identity {
namespace {

using ::hie::common::v1::Demographics;
using ::hie::common::v1::FieldWarning;

TEST(IdentifiersTest, SsnFormsClinicsSendAreNormalised) {
  for (const char* written : {"123456789", "123-45-6789", "123 45 6789", " 123-45-6789 ",
                              "123.45.6789", "123 - 45 - 6789"}) {
    EXPECT_EQ(CanonicalSsn(written), "123-45-6789") << written;
  }
  for (const char* bad : {"", "12345678", "1234567890", "123-45-678X", "000-12-3456", "666-12-3456",
                          "912-34-5678", "123-00-4567", "123-45-0000", "123/45/6789"}) {
    EXPECT_EQ(CanonicalSsn(bad), "") << bad;
  }
}

TEST(IdentifiersTest, UnusableIdentifiersAreDroppedWithAWarningNamingThem) {
  Demographics d;
  auto add = [&](const std::string& system, const std::string& value) {
    auto* id = d.add_identifiers();
    id->set_system(system);
    id->set_value(value);
  };
  add("urn:hl7v2:cx4:CLINIC", " MRN-1 ");
  add(hie::kUsSsnSystem, "123456789");
  add(hie::kUsSsnSystem, "12345");
  add("urn:x", "ABC\x1b");
  add("urn:x", "");
  add("urn:x", "M\xFC");
  std::vector<FieldWarning> warnings;
  NormaliseIdentifiers(&d, "registrations[2].demographics", &warnings);
  ASSERT_EQ(d.identifiers_size(), 2);
  EXPECT_EQ(d.identifiers(0).value(), "MRN-1");
  EXPECT_EQ(d.identifiers(1).value(), "123-45-6789");
  ASSERT_EQ(warnings.size(), 4u);
  EXPECT_EQ(warnings[0].field(), "registrations[2].demographics.identifiers[2]");
  EXPECT_NE(warnings[0].message().find("not a valid US SSN"), std::string::npos);
  EXPECT_EQ(warnings[1].field(), "registrations[2].demographics.identifiers[3]");
  EXPECT_NE(warnings[1].message().find("control characters"), std::string::npos);
  EXPECT_EQ(warnings[2].field(), "registrations[2].demographics.identifiers[4]");
  EXPECT_EQ(warnings[3].field(), "registrations[2].demographics.identifiers[5]");
  for (const FieldWarning& w : warnings) {
    EXPECT_EQ(w.message().find("12345"), std::string::npos) << "no values in warnings";
  }
}

TEST(IdentifiersTest, AtMostTwentyIdentifiersAreKept) {
  Demographics d;
  for (int i = 0; i < 25; ++i) {
    auto* id = d.add_identifiers();
    id->set_system("urn:x");
    id->set_value("v" + std::to_string(i));
  }
  std::vector<FieldWarning> warnings;
  NormaliseIdentifiers(&d, "demographics", &warnings);
  EXPECT_EQ(d.identifiers_size(), kMaxIdentifiers);
  EXPECT_EQ(warnings.size(), 5u);
  EXPECT_EQ(d.identifiers(19).value(), "v19");
}

// A hostile request of many unusable identifiers gets a bounded number of warnings.
TEST(IdentifiersTest, WarningsAreBoundedWhateverTheNumberOfDrops) {
  Demographics d;
  for (int i = 0; i < 100000; ++i) d.add_identifiers()->set_system("urn:x");  // empty values
  std::vector<FieldWarning> warnings;
  NormaliseIdentifiers(&d, "demographics", &warnings);
  EXPECT_EQ(d.identifiers_size(), 0);
  ASSERT_EQ(warnings.size(), size_t{kMaxIdentifierWarnings} + 1);
  EXPECT_EQ(warnings[0].field(), "demographics.identifiers[0]");
  EXPECT_EQ(warnings.back().field(), "demographics.identifiers");
  EXPECT_NE(warnings.back().message().find("99980 more identifiers"), std::string::npos)
      << warnings.back().message();
}

}  // namespace
}  // namespace hie::identity
