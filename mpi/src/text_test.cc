#include "hie/mpi/text.h"

#include <string>

#include "gtest/gtest.h"

namespace hie::mpi {
namespace {

struct FoldCase {
  std::string input;
  std::string expected;
};

TEST(FoldToAsciiTest, Table) {
  const FoldCase cases[] = {
      {"", ""},
      {"   ", ""},
      {"José", "JOSE"},
      {"Zoë Ångström", "ZOE ANGSTROM"},
      {"Łukasz Żółć", "LUKASZ ZOLC"},
      {"Straße", "STRASSE"},
      {"O'Brien", "OBRIEN"},
      {"O\u2019Neil", "ONEIL"},
      {"Smith-Jones", "SMITH JONES"},
      {"  mary   ann ", "MARY ANN"},
      {"Ærø Œuvre", "AERO OEUVRE"},
      {"Dvořák", "DVORAK"},
      {"ſ", "S"},  // U+017F, the last entry of the Latin Extended-A table
      {"Ĳssel", "IJSSEL"},
      {"12 Main St.", "12 MAIN ST"},
      {"Nguyễn Thị Ánh Dương", "NGUYEN THI ANH DUONG"},
      {"Đức Phạm Hồ Huỳnh", "DUC PHAM HO HUYNH"},
      {"ẠẶẸỆỈỊỌỢỤỰỲỹ", "AAEEIIOOUUYY"},  // the ends of each run of U+1EA0..U+1EF9
      {"Ơơ Ưư", "OO UU"},
      {"Nguye\u0302\u0303n", "NGUYEN"},  // decomposed: combining marks are dropped
      {"Jose\u0301", "JOSE"},
      {"Ḁ", ""},     // U+1E00: Latin Extended Additional outside the Vietnamese letters
      {"Иван", ""},  // other scripts are separators
      {"a\xff"
       "b",
       "A B"},           // invalid UTF-8 byte
      {"ab\xc3", "AB"},  // truncated sequence at the end
  };
  for (const auto& c : cases) {
    EXPECT_EQ(FoldToAscii(c.input), c.expected) << "input: " << c.input;
  }
}

TEST(FoldToAsciiTest, DropsDigitsForNames) {
  EXPECT_EQ(FoldToAscii("Yundt842", false), "YUNDT");
  EXPECT_EQ(FoldToAscii("Ann2Marie", false), "ANN MARIE");
}

TEST(DigitsOnlyTest, Table) {
  EXPECT_EQ(DigitsOnly(""), "");
  EXPECT_EQ(DigitsOnly("(555) 123-4567"), "5551234567");
  EXPECT_EQ(DigitsOnly("011-655-0i38"), "011655038");
}

TEST(SoundexTest, Table) {
  const std::pair<const char*, const char*> cases[] = {
      {"ROBERT", "R163"},  {"RUPERT", "R163"}, {"RUBIN", "R150"},   {"ASHCRAFT", "A261"},
      {"TYMCZAK", "T522"}, {"PFISTER", "P236"}, {"HONEYMAN", "H555"}, {"LEE", "L000"},
      {"", ""},
  };
  for (const auto& [in, out] : cases) EXPECT_EQ(Soundex(in), out) << in;
}

TEST(NysiisTest, Table) {
  const std::pair<const char*, const char*> cases[] = {
      {"", ""},           {"MACINTOSH", "MCANT"}, {"KNIGHT", "NAGT"},   {"PHILLIPS", "FALAP"},
      {"SCHMIDT", "SNAD"}, {"JOHNSON", "JANSAN"}, {"BROWN", "BRAN"},    {"WILLIAMS", "WALAN"},
  };
  for (const auto& [in, out] : cases) EXPECT_EQ(Nysiis(in), out) << in;
  // Spelling variants meet.
  EXPECT_EQ(Nysiis("CATHERINE"), Nysiis("KATHERINE"));
  EXPECT_EQ(Nysiis("JOHNSON"), Nysiis("JONSON"));
}

TEST(JaroWinklerTest, KnownValues) {
  EXPECT_NEAR(JaroWinkler("MARTHA", "MARHTA"), 0.9611, 1e-4);
  EXPECT_NEAR(JaroWinkler("DWAYNE", "DUANE"), 0.84, 1e-4);
  EXPECT_NEAR(JaroWinkler("DIXON", "DICKSONX"), 0.8133, 1e-4);
  EXPECT_DOUBLE_EQ(JaroWinkler("", ""), 1.0);
  EXPECT_DOUBLE_EQ(JaroWinkler("A", ""), 0.0);
  EXPECT_DOUBLE_EQ(JaroWinkler("ABC", "XYZ"), 0.0);
  EXPECT_DOUBLE_EQ(JaroWinkler("SAME", "SAME"), 1.0);
}

TEST(JaroWinklerTest, Symmetric) {
  const char* words[] = {"SMITH", "SMYTHE", "JOHNSON", "JONSON", "A", "", "MARTHA", "MARHTA",
                         "123 MAIN ST", "MAIN STREET 123"};
  for (const char* a : words) {
    for (const char* b : words) EXPECT_DOUBLE_EQ(JaroWinkler(a, b), JaroWinkler(b, a)) << a << b;
  }
}

TEST(JaroWinklerAtLeastTest, AgreesWithJaroWinklerAboveTheFloor) {
  const char* words[] = {"SMITH", "SMYTHE", "JOHNSON", "JONSON", "A", "", "MARTHA", "MARHTA",
                         "DWAYNE", "DUANE", "OLIVER", "OEIVLR", "123 MAIN ST", "MAIN ST 123",
                         "XAVIER", "BOB"};
  for (const char* a : words) {
    for (const char* b : words) {
      for (double floor : {0.0, 0.6, 0.8, 0.95}) {
        const double full = JaroWinkler(a, b);
        const double bounded = JaroWinklerAtLeast(a, b, floor);
        if (full >= floor) {
          EXPECT_DOUBLE_EQ(bounded, full) << a << " " << b << " " << floor;
        } else {
          EXPECT_TRUE(bounded == 0.0 || bounded == full) << a << " " << b << " " << floor;
        }
      }
    }
  }
}

TEST(DamerauLevenshteinTest, Table) {
  struct Case {
    const char* a;
    const char* b;
    int max;
    int expected;
  };
  const Case cases[] = {
      {"", "", 2, 0},          {"ABC", "", 5, 3},       {"", "AB", 1, 2},
      {"CA", "AC", 2, 1},      {"SMITH", "SMTIH", 2, 1}, {"SMITH", "SMITHE", 2, 1},
      {"KITTEN", "SITTING", 5, 3}, {"KITTEN", "SITTING", 1, 2},  // capped at max + 1
      {"1234567", "1234576", 1, 1}, {"1234567", "7654321", 3, 4},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(DamerauLevenshtein(c.a, c.b, c.max), c.expected) << c.a << " " << c.b;
    EXPECT_EQ(DamerauLevenshtein(c.b, c.a, c.max), c.expected) << c.b << " " << c.a;
  }
}

TEST(WithinOneEditTest, AgreesWithDamerauLevenshtein) {
  const char* words[] = {"", "A", "AB", "BA", "ABC", "ACB", "ABCD", "ABD", "XBC", "SMITH",
                         "SMTIH", "SMITHE", "SMYTH", "MITH", "SMITHS", "1234567", "1234576",
                         "12345678", "ABCBA", "ABCAB"};
  for (const char* a : words) {
    for (const char* b : words) {
      EXPECT_EQ(WithinOneEdit(a, b), DamerauLevenshtein(a, b, 1) <= 1) << a << " " << b;
    }
  }
}

TEST(PackCodeTest, DistinctAndEmpty) {
  EXPECT_EQ(PackCode(""), 0u);
  EXPECT_NE(PackCode("R163"), PackCode("R162"));
  EXPECT_EQ(PackCode("ABCDEFGHIJ"), PackCode("ABCDEFGH"));  // first 8 bytes only
}

}  // namespace
}  // namespace hie::mpi
