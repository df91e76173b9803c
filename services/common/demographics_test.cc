#include "services/common/demographics.h"

#include <gtest/gtest.h>

namespace hie {
namespace {

using ::hie::common::v1::Sex;

TEST(DemographicsTest, SexCodesOfFeedsAndFilesMeanOneThing) {
  EXPECT_EQ(SexFromCode("F"), hie::common::v1::SEX_FEMALE);
  EXPECT_EQ(SexFromCode(" female "), hie::common::v1::SEX_FEMALE);
  EXPECT_EQ(SexFromCode("m"), hie::common::v1::SEX_MALE);
  EXPECT_EQ(SexFromCode("A"), hie::common::v1::SEX_OTHER);  // HL7 0001: ambiguous
  EXPECT_EQ(SexFromCode("N"), hie::common::v1::SEX_OTHER);  // not applicable
  EXPECT_EQ(SexFromCode("Unknown"), hie::common::v1::SEX_UNKNOWN);
  EXPECT_EQ(SexFromCode(""), std::nullopt);
  EXPECT_EQ(SexFromCode("X"), std::nullopt);
  for (Sex sex : {hie::common::v1::SEX_FEMALE, hie::common::v1::SEX_MALE,
                  hie::common::v1::SEX_OTHER, hie::common::v1::SEX_UNKNOWN}) {
    EXPECT_EQ(SexFromCode(SexCode(sex)), sex) << SexCode(sex);
  }
  EXPECT_EQ(SexCode(hie::common::v1::SEX_UNSPECIFIED), "");
}

TEST(DemographicsTest, DatesAreRealAndAsPreciseAsWritten) {
  for (const char* ok : {"1984-03-12", "1984-03", "1984", "2000-02-29", "1850-01-01"}) {
    EXPECT_TRUE(IsValidDate(ok)) << ok;
  }
  for (const char* bad : {"", "84", "1984-3-12", "1984-02-30", "1900-02-29", "1984-13", "1849",
                          "2201", "1984/03/12", "1984-03-12T00", "19840312", "1984-00", "+984"}) {
    EXPECT_FALSE(IsValidDate(bad)) << bad;
  }
}

}  // namespace
}  // namespace hie
