#include "hie/mpi/match_index.h"

#include <atomic>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "hie/mpi/nicknames.h"

namespace hie::mpi {
namespace {

Record Person(const std::string& id, const std::string& given, const std::string& family,
              const std::string& dob, const std::string& sex = "F") {
  Record r;
  r.record_id = id;
  r.given_name = given;
  r.family_name = family;
  r.birth_date = dob;
  r.sex = sex;
  r.address_line = "10 Oak Street";
  r.city = "Dayton";
  r.postal_code = "45402";
  return r;
}

class MatchIndexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto t = NicknameTable::FromCsv("elizabeth,has_nickname,liz\n");
    ASSERT_TRUE(t.ok());
    nicknames_ = *std::move(t);
    index_ = std::make_unique<MatchIndex>(Model::DefaultParams(), &nicknames_);
    // A small population of different people.
    const char* given[] = {"Ann", "Beth", "Cara", "Dana", "Erin", "Fay", "Gail", "Hope"};
    const char* family[] = {"Quinn", "Reyes", "Stone", "Tran", "Underwood", "Vance"};
    int n = 0;
    for (const char* g : given) {
      for (const char* f : family) {
        const std::string dob = absl::StrCat(1950 + n % 40, "-0", 1 + n % 9, "-1", n % 10);
        Record r = Person(absl::StrCat("p", n), g, f, dob);
        r.address_line = absl::StrCat(n + 1, " Pine Road");
        r.postal_code = absl::StrCat(20000 + n);
        ASSERT_TRUE(index_->Add(r).ok());
        ++n;
      }
    }
    ASSERT_TRUE(index_->Add(Person("liz", "Elizabeth", "Okafor", "1984-11-23")).ok());
  }
  NicknameTable nicknames_;
  std::unique_ptr<MatchIndex> index_;
};

TEST_F(MatchIndexTest, FindsDuplicateWithExplanation) {
  const auto result = index_->Match(Person("q", "Liz", "Okafor", "1984-11-23"), 3);
  ASSERT_FALSE(result.empty());
  EXPECT_EQ(result[0].record_id, "liz");
  EXPECT_EQ(result[0].decision, Decision::kAutoLink);
  EXPECT_NEAR(result[0].explanation.total, result[0].score, 1e-9);
  bool given_listed = false;
  for (const auto& fw : result[0].explanation.fields) {
    if (fw.field == Field::kGiven) {
      given_listed = true;
      EXPECT_STREQ(LevelName(fw.field, fw.level), "close_or_nickname");
    }
  }
  EXPECT_TRUE(given_listed);
  for (size_t i = 1; i < result.size(); ++i) EXPECT_LE(result[i].score, result[i - 1].score);
}

TEST_F(MatchIndexTest, StrangerIsNew) {
  Record q = Person("q", "Zebulon", "Xavier", "2001-02-03", "M");
  q.address_line = "1 Nowhere Lane";
  q.postal_code = "99999";
  const auto result = index_->Match(q, 5);
  for (const auto& c : result) EXPECT_NE(c.decision, Decision::kAutoLink);
}

TEST_F(MatchIndexTest, AddUpdateRemove) {
  EXPECT_EQ(index_->Add(Person("liz", "X", "Y", "")).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(index_->Add(Person("", "X", "Y", "")).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(index_->Update(Person("nope", "X", "Y", "")).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(index_->Remove("nope").code(), absl::StatusCode::kNotFound);
  const size_t before = index_->size();

  // Update moves the record to a different identity.
  ASSERT_TRUE(index_->Update(Person("liz", "Grace", "Hopper", "1906-12-09")).ok());
  EXPECT_EQ(index_->size(), before);
  auto old_query = index_->Match(Person("q", "Liz", "Okafor", "1984-11-23"), 1);
  EXPECT_TRUE(old_query.empty() || old_query[0].record_id != "liz" ||
              old_query[0].decision != Decision::kAutoLink);
  auto new_query = index_->Match(Person("q", "Grace", "Hopper", "1906-12-09"), 1);
  ASSERT_FALSE(new_query.empty());
  EXPECT_EQ(new_query[0].record_id, "liz");

  ASSERT_TRUE(index_->Remove("liz").ok());
  EXPECT_EQ(index_->size(), before - 1);
  for (const auto& c : index_->Match(Person("q", "Grace", "Hopper", "1906-12-09"), 5)) {
    EXPECT_NE(c.record_id, "liz");
  }
  EXPECT_FALSE(index_->Find("liz").has_value());
  // The freed slot is reused and the id can come back.
  ASSERT_TRUE(index_->Add(Person("liz", "Elizabeth", "Okafor", "1984-11-23")).ok());
  const std::optional<NormalizedRecord> found = index_->Find("liz");
  ASSERT_TRUE(found.has_value());
  const NormalizedRecord normalized =
      index_->Normalize(Person("liz", "Elizabeth", "Okafor", "1984-11-23"));
  EXPECT_EQ(found->given, normalized.given);
  EXPECT_EQ(found->family, normalized.family);
  EXPECT_EQ(found->given_freq, 0) << "as Normalize makes it: no frequencies";
  EXPECT_EQ(index_->Match(Person("q", "Liz", "Okafor", "1984-11-23"), 1)[0].record_id, "liz");
}

TEST_F(MatchIndexTest, QuerySkipsItsOwnRecordId) {
  for (const auto& c : index_->Match(Person("liz", "Elizabeth", "Okafor", "1984-11-23"), 5)) {
    EXPECT_NE(c.record_id, "liz");
  }
  EXPECT_TRUE(index_->Match(Person("q", "A", "B", ""), 0).empty());
}

TEST_F(MatchIndexTest, MarginRuleSendsAmbiguousPairToReview) {
  // Two different people (distinct SSNs) that a query missing the SSN matches equally well.
  Record x = Person("x", "Mary", "Lindqvist", "1970-06-01");
  x.ssn = "219-09-9999";
  x.address_line = "5 Birch Way";
  x.postal_code = "30303";
  Record y = x;
  y.record_id = "y";
  y.ssn = "078-05-1120";
  ASSERT_TRUE(index_->Add(x).ok());
  ASSERT_TRUE(index_->Add(y).ok());
  Record q = x;
  q.record_id = "q";
  q.ssn = "";
  const auto result = index_->Match(q, 2);
  ASSERT_EQ(result.size(), 2u);
  EXPECT_EQ(result[0].decision, Decision::kReview);
  EXPECT_EQ(result[1].decision, Decision::kReview);
}

TEST_F(MatchIndexTest, GuardedNeighbourRuleSendsLinkToReview) {
  // j: John Smith. t: a record of j's household (same birth date, address and phone) without
  // a family name, which scores as one person with j. q: Peter Smith, John's twin, who shares
  // t's e-mail: q alone would auto-link to t, which would put the twins into one person.
  auto at_home = [](Record r) {
    r.sex = "M";
    r.address_line = "7 Cedar Lane";
    r.postal_code = "45409";
    r.phone = "937-555-0107";
    return r;
  };
  Record j = at_home(Person("j", "John", "Smith", "1980-01-01"));
  Record t = at_home(Person("t", "John", "", "1980-01-01"));
  t.email = "smiths@example.org";
  Record q = at_home(Person("q", "Peter", "Smith", "1980-01-01"));
  q.email = "smiths@example.org";
  ASSERT_TRUE(index_->Add(j).ok());
  ASSERT_TRUE(index_->Add(t).ok());
  const auto result = index_->Match(q, 5);
  bool saw_t = false;
  for (const auto& c : result) {
    EXPECT_NE(c.decision, Decision::kAutoLink) << c.record_id;
    if (c.record_id == "t") {
      saw_t = true;
      EXPECT_GE(c.score, MatchIndexOptions().thresholds.auto_link);  // no guard of its own
      EXPECT_EQ(c.explanation.guards, 0u);
      EXPECT_EQ(c.decision, Decision::kReview);
    }
    if (c.record_id == "j") EXPECT_NE(c.explanation.guards & kGuardTwin, 0u);
  }
  EXPECT_TRUE(saw_t);
  // Without the twin in the index, t is linked.
  ASSERT_TRUE(index_->Remove("j").ok());
  const auto alone = index_->Match(q, 5);
  ASSERT_FALSE(alone.empty());
  EXPECT_EQ(alone[0].record_id, "t");
  EXPECT_EQ(alone[0].decision, Decision::kAutoLink);
}

// Two candidate lists are the same: ids, scores, decisions and explanations.
void ExpectSameCandidates(const std::vector<MatchCandidate>& a,
                          const std::vector<MatchCandidate>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(a[i].record_id, b[i].record_id);
    EXPECT_EQ(a[i].score, b[i].score);  // bit for bit: the same computation
    EXPECT_EQ(a[i].decision, b[i].decision);
    EXPECT_EQ(a[i].explanation.total, b[i].explanation.total);
    EXPECT_EQ(a[i].explanation.guards, b[i].explanation.guards);
    ASSERT_EQ(a[i].explanation.fields.size(), b[i].explanation.fields.size());
    for (size_t f = 0; f < a[i].explanation.fields.size(); ++f) {
      EXPECT_EQ(a[i].explanation.fields[f].field, b[i].explanation.fields[f].field);
      EXPECT_EQ(a[i].explanation.fields[f].level, b[i].explanation.fields[f].level);
      EXPECT_EQ(a[i].explanation.fields[f].weight, b[i].explanation.fields[f].weight);
      EXPECT_EQ(a[i].explanation.fields[f].tf_adjusted, b[i].explanation.fields[f].tf_adjusted);
    }
  }
}

TEST_F(MatchIndexTest, NormalizedRecordsMatchAsRecordsDo) {
  // Two indexes built alike, one from Records and one from normalised records, answer alike;
  // a normalised query gives what the Record query gives, including its own id being skipped.
  MatchIndex by_record(Model::DefaultParams(), &nicknames_);
  MatchIndex by_normalized(Model::DefaultParams(), &nicknames_);
  Record liz = Person("liz", "Elizabeth", "Okafor", "1984-11-23");
  Record beth = Person("beth", "Beth", "Okafor", "1984-11-23");
  beth.phone = "937-555-0188";
  Record twin = Person("twin", "Liz", "Okafor", "1984-11-23");
  twin.address_line = "12 Elm Court";
  const std::vector<Record> records = {liz, beth, twin, Person("x", "Ann", "Quinn", "1950-01-10")};
  for (const Record& r : records) {
    ASSERT_TRUE(by_record.Add(r).ok());
    ASSERT_TRUE(by_normalized.Add(r.record_id, by_normalized.Normalize(r)).ok());
  }
  // Updates and upserts, both ways.
  Record moved = beth;
  moved.city = "Kettering";
  moved.postal_code = "45429";
  ASSERT_TRUE(by_record.Update(moved).ok());
  ASSERT_TRUE(by_normalized.Update(moved.record_id, by_normalized.Normalize(moved)).ok());
  Record added = Person("late", "Eliza", "Okafor", "1984-11-23");
  ASSERT_TRUE(by_record.Add(added).ok());
  ASSERT_TRUE(by_normalized.Upsert(added.record_id, by_normalized.Normalize(added)).ok());
  twin.phone = "937-555-0111";
  ASSERT_TRUE(by_record.Update(twin).ok());
  ASSERT_TRUE(by_normalized.Upsert(twin.record_id, by_normalized.Normalize(twin)).ok());
  EXPECT_EQ(by_record.size(), by_normalized.size());

  const std::vector<Record> queries = {Person("q", "Liz", "Okafor", "1984-11-23"), liz, moved,
                                       Person("", "Beth", "Okafor", "1984-11-23")};
  for (const Record& q : queries) {
    SCOPED_TRACE(q.record_id + " " + q.given_name);
    const NormalizedRecord n = by_normalized.Normalize(q);
    const std::vector<MatchCandidate> want = by_record.Match(q, 5);
    ASSERT_FALSE(want.empty());
    ExpectSameCandidates(by_record.Match(q.record_id, n, 5), want);
    ExpectSameCandidates(by_normalized.Match(q, 5), want);
    ExpectSameCandidates(by_normalized.Match(q.record_id, n, 5), want);
    // Matching does not annotate the caller's record, so it can be matched again.
    EXPECT_EQ(n.given_freq, 0);
    EXPECT_EQ(n.family_freq, 0);
    ExpectSameCandidates(by_normalized.Match(q.record_id, n, 5), want);
    for (const MatchCandidate& c : want) EXPECT_NE(c.record_id, q.record_id);
  }
}

TEST_F(MatchIndexTest, NormalizedRecordOverloadsReportErrorsAsRecordsDo) {
  const NormalizedRecord n = index_->Normalize(Person("", "X", "Y", ""));
  EXPECT_EQ(index_->Add("liz", n).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(index_->Add("", n).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(index_->Upsert("", n).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(index_->Update("nope", n).code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(index_->Match("", n, 0).empty());
  const size_t before = index_->size();
  ASSERT_TRUE(index_->Upsert("new", n).ok());
  EXPECT_EQ(index_->size(), before + 1);
  ASSERT_TRUE(index_->Upsert("new", n).ok());
  EXPECT_EQ(index_->size(), before + 1);
}

TEST_F(MatchIndexTest, FrequenciesOfTheMomentAnnotateANormalizedQuery) {
  // A query normalised before records sharing its family name were indexed is scored with the
  // frequencies at Match time, as a Record query is.
  const Record q = Person("q", "Liz", "Okafor", "1984-11-23");
  const NormalizedRecord n = index_->Normalize(q);
  const std::vector<MatchCandidate> earlier = index_->Match(q, 1);
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(
        index_->Add(Person(absl::StrCat("o", i), absl::StrCat("Other", i), "Okafor", "1960-01-01"))
            .ok());
  }
  const std::vector<MatchCandidate> now = index_->Match(q, 5);
  ASSERT_FALSE(earlier.empty());
  ASSERT_FALSE(now.empty());
  ASSERT_EQ(now[0].record_id, earlier[0].record_id);
  EXPECT_LT(now[0].score, earlier[0].score);  // a commoner family name says less
  ExpectSameCandidates(index_->Match(q.record_id, n, 5), now);
}

TEST_F(MatchIndexTest, ConcurrentReadersAndWriter) {
  std::atomic<bool> stop{false};
  std::atomic<int> matches{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&] {
      for (int k = 0; k < 100 || !stop; ++k) {
        const auto r = index_->Match(Person("q", "Liz", "Okafor", "1984-11-23"), 3);
        if (!r.empty() && r[0].record_id == "liz") ++matches;
      }
    });
  }
  for (int i = 0; i < 200; ++i) {
    const std::string id = absl::StrCat("w", i);
    ASSERT_TRUE(index_->Add(Person(id, "Temp", "Writer", "1999-01-01")).ok());
    if (i % 2 == 0) {
      ASSERT_TRUE(index_->Remove(id).ok());
    }
  }
  stop = true;
  for (auto& th : readers) th.join();
  EXPECT_GT(matches.load(), 0);
  EXPECT_EQ(index_->size(), 49u + 100u);
}

}  // namespace
}  // namespace hie::mpi
