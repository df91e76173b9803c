#include "hie/mpi/normalize.h"

#include <string>

#include "gtest/gtest.h"
#include "hie/mpi/nicknames.h"
#include "hie/mpi/text.h"

namespace hie::mpi {
namespace {

TEST(ParseNameTest, Table) {
  struct Case {
    const char* given;
    const char* middle;
    const char* family;
    const char* want_given;
    const char* want_middle;
    const char* want_family;
    NameSuffix want_suffix;
  };
  const Case cases[] = {
      {"", "", "", "", "", "", NameSuffix::kNone},
      {"Mary Ann", "", "Smith", "MARY", "ANN", "SMITH", NameSuffix::kNone},
      {"John", "Q.", "Public Jr.", "JOHN", "Q", "PUBLIC", NameSuffix::kJunior},
      {"Robert III", "", "Smith", "ROBERT", "", "SMITH", NameSuffix::kThird},
      {"Dr. Jane", "", "Doe-Roe", "JANE", "", "DOE ROE", NameSuffix::kNone},
      {"José", "María", "García López", "JOSE", "MARIA", "GARCIA LOPEZ", NameSuffix::kNone},
      {"Seán", "", "O'Brien", "SEAN", "", "OBRIEN", NameSuffix::kNone},
      {"UNKNOWN", "", "Smith", "", "", "SMITH", NameSuffix::kNone},
      {"Baby Boy", "", "Jones", "", "", "JONES", NameSuffix::kNone},
      {"Anna", "", "unknown", "ANNA", "", "", NameSuffix::kNone},
      {"Sr", "", "Sr", "SR", "", "SR", NameSuffix::kNone},  // a lone token is a name
  };
  for (const auto& c : cases) {
    const ParsedName n = ParseName(c.given, c.middle, c.family);
    EXPECT_EQ(n.given, c.want_given) << c.given << "|" << c.family;
    EXPECT_EQ(n.middle, c.want_middle) << c.given << "|" << c.family;
    EXPECT_EQ(n.family, c.want_family) << c.given << "|" << c.family;
    EXPECT_EQ(n.suffix, c.want_suffix) << c.given << "|" << c.family;
  }
}

TEST(ParseBirthDateTest, Table) {
  struct Case {
    const char* text;
    DateOrder order;
    BirthDate want;
  };
  const Case cases[] = {
      {"", DateOrder::kMonthFirst, {}},
      {"19560409", DateOrder::kMonthFirst, {1956, 4, 9, false}},
      {"1956-04-09", DateOrder::kMonthFirst, {1956, 4, 9, false}},
      {"1956/4/9", DateOrder::kMonthFirst, {1956, 4, 9, false}},
      {"1990-01-02T00:00:00Z", DateOrder::kMonthFirst, {1990, 1, 2, false}},
      {"04/09/1956", DateOrder::kMonthFirst, {1956, 4, 9, false}},
      {"04/09/1956", DateOrder::kDayFirst, {1956, 9, 4, false}},
      {"25/12/1980", DateOrder::kMonthFirst, {1980, 12, 25, false}},  // unambiguous
      {"12/25/1980", DateOrder::kDayFirst, {1980, 12, 25, false}},
      {"09.04.1956", DateOrder::kMonthFirst, {1956, 4, 9, false}},  // dots: day first
      {"3 Jan 1990", DateOrder::kMonthFirst, {1990, 1, 3, false}},
      {"January 3, 1990", DateOrder::kMonthFirst, {1990, 1, 3, false}},
      {"1/2/85", DateOrder::kMonthFirst, {1985, 1, 2, false}},
      {"1/2/05", DateOrder::kMonthFirst, {2005, 1, 2, false}},
      {"1980-25-12", DateOrder::kMonthFirst, {1980, 12, 25, true}},  // day/month swapped
      {"1980-02-30", DateOrder::kMonthFirst, {1980, 0, 0, false}},   // impossible: year only
      {"1981-13-45", DateOrder::kMonthFirst, {1981, 0, 0, false}},
      {"2000-02-29", DateOrder::kMonthFirst, {2000, 2, 29, false}},  // leap year
      {"1900-02-29", DateOrder::kMonthFirst, {1900, 0, 0, false}},   // not a leap year
      {"1900-01-01", DateOrder::kMonthFirst, {}},                    // placeholder
      {"0000-00-00", DateOrder::kMonthFirst, {}},
      {"9999-12-31", DateOrder::kMonthFirst, {}},
      {"not a date", DateOrder::kMonthFirst, {}},
      {"12345", DateOrder::kMonthFirst, {}},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(ParseBirthDate(c.text, c.order), c.want) << c.text;
  }
}

TEST(ParseBirthDateTest, KeepsTheDateAsWrittenBeforeRepair) {
  EXPECT_EQ(ParseBirthDate("1956-04-09").as_written, 19560409);
  EXPECT_EQ(ParseBirthDate("04/09/1956", DateOrder::kDayFirst).as_written, 19560904);
  EXPECT_EQ(ParseBirthDate("1980-25-12").as_written, 19802512);  // read swapped
  EXPECT_EQ(ParseBirthDate("19105412").as_written, 19105412);    // impossible
  EXPECT_EQ(ParseBirthDate("1900-01-01").as_written, 0);         // placeholder
  EXPECT_EQ(ParseBirthDate("").as_written, 0);
}

TEST(ParseSexTest, Table) {
  EXPECT_EQ(ParseSex(""), Sex::kUnknown);
  EXPECT_EQ(ParseSex("M"), Sex::kMale);
  EXPECT_EQ(ParseSex("male"), Sex::kMale);
  EXPECT_EQ(ParseSex("Mal3"), Sex::kMale);
  EXPECT_EQ(ParseSex("F"), Sex::kFemale);
  EXPECT_EQ(ParseSex("Femalw"), Sex::kFemale);
  EXPECT_EQ(ParseSex("woman"), Sex::kFemale);
  EXPECT_EQ(ParseSex("Miss"), Sex::kFemale);
  EXPECT_EQ(ParseSex("U"), Sex::kUnknown);
  EXPECT_EQ(ParseSex("unknown"), Sex::kUnknown);
}

TEST(NormalizeIdentifiersTest, Phone) {
  EXPECT_EQ(NormalizePhone(""), "");
  EXPECT_EQ(NormalizePhone("+1 (505) 893-4675"), "5058934675");
  EXPECT_EQ(NormalizePhone("505.893.4675"), "5058934675");
  EXPECT_EQ(NormalizePhone("011-655-0i38"), "011655038");
  EXPECT_EQ(NormalizePhone("000-000-0000"), "");
  EXPECT_EQ(NormalizePhone("123"), "");
}

TEST(NormalizeIdentifiersTest, Ssn) {
  bool us = false;
  EXPECT_EQ(NormalizeSsn("698-31-3534", &us), "698313534");
  EXPECT_TRUE(us);
  EXPECT_EQ(NormalizeSsn("666-12-3456", &us), "666123456");
  EXPECT_FALSE(us);  // area 666 is never issued
  EXPECT_EQ(NormalizeSsn("000-00-0000", &us), "");
  EXPECT_EQ(NormalizeSsn("123-45-6789", &us), "");
  EXPECT_EQ(NormalizeSsn("999999999", &us), "");
  EXPECT_EQ(NormalizeSsn("1804974", &us), "1804974");
  EXPECT_FALSE(us);  // 7 digits: an identifier, not a US SSN
  EXPECT_EQ(NormalizeSsn("", &us), "");
}

TEST(NormalizeIdentifiersTest, PostalAndEmail) {
  EXPECT_EQ(NormalizePostalCode("sw1a 1aa"), "SW1A1AA");
  EXPECT_EQ(NormalizePostalCode("87151-1234"), "87151");
  EXPECT_EQ(NormalizePostalCode("00000"), "");
  EXPECT_EQ(NormalizePostalCode(""), "");
  EXPECT_EQ(NormalizeEmail(" Robert255@Smith.NET "), "robert255@smith.net");
  EXPECT_EQ(NormalizeEmail("none@example.com"), "");
  EXPECT_EQ(NormalizeEmail("not-an-email"), "");
  EXPECT_EQ(NormalizeEmail(""), "");
}

TEST(NormalizeAddressTest, Table) {
  struct Case {
    const char* text;
    const char* number;
    const char* street;
  };
  const Case cases[] = {
      {"", "", ""},
      {"12 Main Street", "12", "MAIN ST"},
      {"12 MAIN ST.", "12", "MAIN ST"},
      {"16 School Ave #19", "16", "SCHOOL AVE 19"},
      {"593 1st Avenue Apartment 205", "593", "1ST AVE APT 205"},
      {"P.O. Box 7", "", "PO BOX 7"},
      {"Rue de l'Église", "", "RUE DE LEGLISE"},
      {"unknown", "", ""},
  };
  for (const auto& c : cases) {
    std::string number;
    std::string street;
    NormalizeAddress(c.text, &number, &street);
    EXPECT_EQ(number, c.number) << c.text;
    EXPECT_EQ(street, c.street) << c.text;
  }
}

TEST(NormalizerTest, WholeRecord) {
  auto table = NicknameTable::FromCsv("name1,relationship,name2\nrobert,has_nickname,bob\n");
  ASSERT_TRUE(table.ok());
  const Normalizer normalizer(&*table);
  Record r;
  r.given_name = "Bob";
  r.family_name = "Smith";
  r.birth_date = "1970-01-02";
  r.sex = "m";
  r.phone = "(505) 893-4675";
  r.org = "clinic-a";
  r.local_id = "42";
  const NormalizedRecord n = normalizer.Normalize(r);
  EXPECT_EQ(n.given, "BOB");
  EXPECT_NE(n.given_groups[0], 0u);
  EXPECT_EQ(n.given_nysiis, PackCode(Nysiis("BOB")));
  EXPECT_EQ(n.family_soundex, PackCode(Soundex("SMITH")));
  EXPECT_EQ(n.birth_date, (BirthDate{1970, 1, 2, false}));
  EXPECT_EQ(n.sex, Sex::kMale);
  EXPECT_EQ(n.phone, "5058934675");
  EXPECT_NE(n.org, 0u);
  EXPECT_NE(n.local_id, 0u);

  const NormalizedRecord empty = normalizer.Normalize(Record{});
  EXPECT_TRUE(empty.given.empty());
  EXPECT_EQ(empty.birth_date.year, 0);
  EXPECT_EQ(empty.org, 0u);
}

}  // namespace
}  // namespace hie::mpi
