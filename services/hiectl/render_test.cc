#include "services/hiectl/render.h"

#include <gmock/gmock.h>
#include <google/protobuf/text_format.h>
#include <gtest/gtest.h>

namespace hie::hiectl {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

namespace id = ::hie::identity::v1;

template <typename T>
T Parse(const std::string& text) {
  T message;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &message)) << text;
  return message;
}

// An explanation as the server would send it: fields in descending absolute weight.
constexpr char kExplanation[] = R"pb(
  total_score: 9.5
  grade: MATCH_GRADE_PROBABLE
  upper_threshold: 18
  lower_threshold: 6
  model_version: "em-2026-11"
  fields {
    field: "family_name"
    level: COMPARISON_LEVEL_EXACT
    weight: 8.123
    comparator: "jaro_winkler"
    similarity: 1
    note: "frequency_adjusted"
  }
  fields {
    field: "birth_date"
    level: COMPARISON_LEVEL_PARTIAL
    weight: 4.5
    comparator: "date"
    note: "day_month_transposed"
  }
  fields {
    field: "given_name"
    level: COMPARISON_LEVEL_DIFFERENT
    weight: -3.1234
    comparator: "jaro_winkler"
    similarity: 0.61
  }
  fields { field: "phone" level: COMPARISON_LEVEL_MISSING weight: 0 }
)pb";

TEST(TableTest, AlignsColumnsCountsCodePointsAndTrimsTrailingSpaces) {
  Table table({"name", "n", "note"});
  table.RightAlign(1);
  table.AddRow({"Díaz", "7", ""});
  table.AddRow({"Lee", "12345", "x"});
  table.AddSeparator();
  table.AddRow({"total"});
  EXPECT_EQ(table.Render("  "),
            "  NAME       N  NOTE\n"
            "  Díaz       7\n"
            "  Lee    12345  x\n"
            "  ------------------\n"
            "  total\n");
}

TEST(KeyValuesTest, SkipsEmptyValuesAndAlignsKeys) {
  EXPECT_EQ(KeyValues({{"person", "P-1"}, {"merged into", ""}, {"state", "active"}}),
            "person  P-1\n"
            "state   active\n");
}

TEST(FormatTest, ScoresWeightsTimesAndLabels) {
  EXPECT_EQ(FormatWeight(8.123), "+8.12");
  EXPECT_EQ(FormatWeight(-3.1234), "-3.12");
  EXPECT_EQ(FormatWeight(-0.0), "0.00");
  EXPECT_EQ(FormatScore(24.1), "24.10");
  EXPECT_EQ(EnumLabel("MATCH_GRADE_CERTAINLY_NOT", "MATCH_GRADE_"), "certainly-not");
  EXPECT_EQ(GradeLabel(id::MATCH_GRADE_UNSPECIFIED), "-");
  EXPECT_EQ(LevelLabel(id::COMPARISON_LEVEL_EQUIVALENT), "equivalent");
  google::protobuf::Timestamp ts;
  EXPECT_EQ(FormatTime(ts), "-");
  ts.set_seconds(1793491200);
  EXPECT_EQ(FormatTime(ts), "2026-11-01T00:00:00Z");
  ts.set_nanos(250000000);
  EXPECT_EQ(FormatTime(ts), "2026-11-01T00:00:00.25Z");
}

TEST(FormatTest, ActorShowsTheSetParts) {
  hie::common::v1::Actor actor;
  EXPECT_EQ(FormatActor(actor), "-");
  actor.set_org("hie-operations");
  EXPECT_EQ(FormatActor(actor), "hie-operations");
  actor.set_user_id("jdoe");
  actor.set_role(hie::common::v1::ROLE_HIE_OPERATOR);
  EXPECT_EQ(FormatActor(actor), "jdoe@hie-operations (hie-operator)");
}

TEST(RenderExplanationTest, GoldenText) {
  EXPECT_EQ(RenderExplanation(Parse<id::MatchExplanation>(kExplanation)),
            "FIELD        LEVEL      WEIGHT  COMPARATOR    SIMILARITY  NOTE\n"
            "family_name  exact       +8.12  jaro_winkler        1.00  frequency_adjusted\n"
            "birth_date   partial     +4.50  date                   -  day_month_transposed\n"
            "given_name   different   -3.12  jaro_winkler        0.61  -\n"
            "phone        missing      0.00  -                      -  -\n"
            "------------------------------------------------------------------------------\n"
            "total                    +9.50\n"
            "grade probable; thresholds: certain >= 18.00, review >= 6.00, below: no match; "
            "model em-2026-11\n"
            "guards: none\n");
}

TEST(RenderExplanationTest, KeepsTheServerOrderAndShowsGuards) {
  id::MatchExplanation e = Parse<id::MatchExplanation>(R"pb(
    total_score: 20
    grade: MATCH_GRADE_CERTAINLY_NOT
    upper_threshold: 18
    lower_threshold: 6
    fields { field: "sex" level: COMPARISON_LEVEL_EXACT weight: 1 }
    fields { field: "ssn" level: COMPARISON_LEVEL_DIFFERENT weight: -9 }
    guards { kind: KIND_CONFLICTING_IDENTIFIER field: "identifier:urn:oid:2.16.840.1.113883.4.1" }
    guards { kind: KIND_NOT_A_MATCH_DECISION }
  )pb");
  std::string text = RenderExplanation(e, "    ");
  EXPECT_LT(text.find("    sex "), text.find("    ssn "));  // not re-sorted
  EXPECT_THAT(text, HasSubstr("    guards: conflicting-identifier "
                              "(identifier:urn:oid:2.16.840.1.113883.4.1), not-a-match-decision"
                              " -> never linked automatically (at most a review task)\n"));
  EXPECT_THAT(text, HasSubstr("    grade certainly-not;"));
}

TEST(RenderExplanationTest, NamesThePersonsRecordThatDisagrees) {
  id::MatchExplanation e = Parse<id::MatchExplanation>(R"pb(
    total_score: 20
    grade: MATCH_GRADE_PROBABLE
    guards {
      kind: KIND_PERSON_DISAGREES
      field: "person"
      other_record { org: "clinic-a" local_id: "A1" }
    }
  )pb");
  EXPECT_THAT(RenderExplanation(e, ""),
              HasSubstr("guards: person-disagrees (person) against clinic-a/A1 -> never"));
}

TEST(RenderSearchTest, TableAndExplanations) {
  id::SearchPersonsResponse response = Parse<id::SearchPersonsResponse>(
      std::string(R"pb(
        matches {
          candidate {
            person_id: "P-1"
            score: 24.1
            grade: MATCH_GRADE_CERTAIN
            best_source_id { org: "clinic-a" local_id: "M1" }
          }
          source_ids { org: "clinic-a" local_id: "M1" }
          source_ids { org: "clinic-b" local_id: "77" }
        }
        matches { candidate { person_id: "P-22" score: 9.5 grade: MATCH_GRADE_PROBABLE
                              best_source_id { org: "clinic-b" local_id: "9" }
                              explanation {)pb") +
      kExplanation + "} } }");
  EXPECT_EQ(RenderSearch(response, false),
            "#  PERSON  GRADE     SCORE  BEST RECORD  RECORDS\n"
            "1  P-1     certain   24.10  clinic-a/M1        2\n"
            "2  P-22    probable   9.50  clinic-b/9         0\n");
  std::string explained = RenderSearch(response, true);
  EXPECT_THAT(explained, HasSubstr("\ncandidate 1: P-1 (certain, score 24.10), compared with "
                                   "clinic-a/M1\n  (the server sent no explanation)\n"));
  EXPECT_THAT(explained, HasSubstr("\ncandidate 2: P-22 (probable, score 9.50), compared with "
                                   "clinic-b/9\n  FIELD        LEVEL      WEIGHT"));
  EXPECT_THAT(explained, HasSubstr("\n  total                    +9.50\n"));
  EXPECT_EQ(RenderSearch(id::SearchPersonsResponse(), true), "no matching person\n");
}

TEST(RenderRegisterTest, GoldenText) {
  id::RegisterSourceRecordResponse response = Parse<id::RegisterSourceRecordResponse>(R"pb(
    record {
      source_id { org: "clinic-a" local_id: "M1" }
      version: 1
    }
    person_id: "P-9"
    created: true
    decision {
      outcome: MATCH_OUTCOME_REVIEW
      person_id: "P-9"
      review_task_id: "T-3"
      candidates {
        person_id: "P-1"
        score: 12.25
        grade: MATCH_GRADE_PROBABLE
        best_source_id { org: "clinic-b" local_id: "X" }
      }
      candidates {
        person_id: "P-2"
        score: -1
        grade: MATCH_GRADE_POSSIBLE
        best_source_id { org: "clinic-c" local_id: "Y" }
      }
    }
  )pb");
  EXPECT_EQ(RenderRegister(response, false, false),
            "record       clinic-a/M1 v1 (first version)\n"
            "outcome      review\n"
            "person       P-9\n"
            "review task  T-3\n"
            "candidates:\n"
            "#  PERSON  GRADE     SCORE  BEST RECORD\n"
            "1  P-1     probable  12.25  clinic-b/X\n"
            "2  P-2     possible  -1.00  clinic-c/Y\n");
  EXPECT_THAT(RenderRegister(response, true, false), HasSubstr("dry run"));
  EXPECT_THAT(RenderRegister(response, false, true),
              HasSubstr("\ncandidate 2: P-2 (possible, score -1.00), compared with clinic-c/Y\n"
                        "  (the server sent no explanation)\n"));
}

TEST(RenderResolveTest, GoldenText) {
  id::ResolveResponse response = Parse<id::ResolveResponse>(R"pb(
    person_id: "P-1"
    as_of_sequence: 42
    cross_references {
      source_id { org: "clinic-a" local_id: "M1" }
      state: RECORD_STATE_ACTIVE
      link {
        method: LINK_METHOD_NEW_PERSON
        create_time { seconds: 1793491200 }
      }
    }
    cross_references {
      source_id { org: "clinic-b" local_id: "77" }
      state: RECORD_STATE_ACTIVE
      link {
        method: LINK_METHOD_AUTO
        score: 21.5
        create_time { seconds: 1793494800 }
      }
    }
  )pb");
  EXPECT_EQ(RenderResolve(response),
            "person          P-1\n"
            "as of sequence  42\n"
            "cross-references (2):\n"
            "ORG       LOCAL ID  STATE   METHOD      SCORE  LINKED\n"
            "clinic-a  M1        active  new-person      -  2026-11-01T00:00:00Z\n"
            "clinic-b  77        active  auto        21.50  2026-11-01T01:00:00Z\n");
}

TEST(RenderReviewTaskTest, RecordsSideBySideWithMaskedSsnAndExplanation) {
  id::ReviewTask task = Parse<id::ReviewTask>(
      std::string(R"pb(
        task_id: "T-3"
        state: REVIEW_TASK_STATE_OPEN
        etag: "e1"
        create_time { seconds: 1793491200 }
        left_person_id: "P-9"
        right_person_id: "P-1"
        left {
          source_id { org: "clinic-a" local_id: "M1" }
          version: 2
          demographics {
            name { given: "José" family: "Díaz" }
            sex: SEX_MALE
            birth_date: "1980-03-04"
            identifiers { system: "urn:oid:2.16.840.1.113883.4.1" value: "123-45-6789" }
          }
        }
        right {
          source_id { org: "clinic-b" local_id: "X" }
          version: 1
          demographics {
            name { given: "Jose" family: "Diaz" }
            birth_date: "1980-04-03"
            phones { value: "555-0100" }
          }
        }
        explanation {)pb") +
      kExplanation + "}");
  std::string text = RenderReviewTask(task);
  EXPECT_EQ(text.substr(0, text.find("\nexplanation:")),
            "task     T-3\n"
            "state    open\n"
            "created  2026-11-01T00:00:00Z\n"
            "etag     e1\n"
            "\n"
            "             LEFT             RIGHT\n"
            "record       clinic-a/M1      clinic-b/X\n"
            "version      2                1\n"
            "person       P-9              P-1\n"
            "----------------------------------------\n"
            "name         José Díaz        Jose Diaz\n"
            "sex          male             -\n"
            "birth date   1980-03-04       1980-04-03\n"
            "phone        -                555-0100\n"
            "identifiers  ssn ***-**-6789  -\n");
  EXPECT_THAT(text, Not(HasSubstr("123-45")));
  EXPECT_THAT(text, HasSubstr("\nexplanation:\n  FIELD        LEVEL"));
}

TEST(RenderReviewListTest, TableAndNextPage) {
  id::ListReviewTasksResponse response = Parse<id::ListReviewTasksResponse>(R"pb(
    tasks {
      task_id: "T-3"
      state: REVIEW_TASK_STATE_OPEN
      create_time { seconds: 1793491200 }
      left { source_id { org: "clinic-a" local_id: "M1" } }
      right { source_id { org: "clinic-b" local_id: "X" } }
      left_person_id: "P-9"
      right_person_id: "P-1"
      explanation { total_score: 9.5 grade: MATCH_GRADE_PROBABLE }
    }
    next_page_token: "tok2"
    total_size: 7
  )pb");
  EXPECT_EQ(RenderReviewList(response),
            "TASK  STATE  CREATED               GRADE     SCORE  LEFT         RIGHT       "
            "LEFT PERSON  RIGHT PERSON\n"
            "T-3   open   2026-11-01T00:00:00Z  probable   9.50  clinic-a/M1  clinic-b/X  "
            "P-9          P-1\n"
            "1 shown of 7\n"
            "next page: --page-token=tok2\n");
  EXPECT_EQ(RenderReviewList(id::ListReviewTasksResponse()), "no review tasks\n");
}

TEST(RenderPersonTest, LinksAndGoldenRecordWithProvenance) {
  id::Person person = Parse<id::Person>(R"pb(
    person_id: "P-1"
    state: PERSON_STATE_ACTIVE
    etag: "e5"
    links {
      source_id { org: "clinic-a" local_id: "M1" }
      method: LINK_METHOD_AUTO
      score: 21.5
      grade: MATCH_GRADE_CERTAIN
      create_time { seconds: 1793491200 }
    }
    links {
      source_id { org: "clinic-b" local_id: "X" }
      method: LINK_METHOD_MANUAL
      actor { org: "hie" user_id: "jdoe" }
      reason: "same MRN on paper chart"
      create_time { seconds: 1793494800 }
    }
    golden_record {
      demographics {
        name { family: "Díaz" }
        birth_date: "1980-03-04"
      }
      provenance {
        field: "name.family"
        source_id { org: "clinic-a" local_id: "M1" }
        record_version: 2
        rule: "most_recent"
      }
      provenance {
        field: "birth_date"
        source_id { org: "clinic-b" local_id: "X" }
        record_version: 1
        rule: "most_frequent"
      }
    }
  )pb");
  EXPECT_EQ(RenderPerson(person),
            "person  P-1\n"
            "state   active\n"
            "etag    e5\n"
            "links (2):\n"
            "  ORG       LOCAL ID  METHOD  SCORE  GRADE    LINKED                BY        "
            "REASON\n"
            "  clinic-a  M1        auto    21.50  certain  2026-11-01T00:00:00Z  -         -\n"
            "  clinic-b  X         manual      -  -        2026-11-01T01:00:00Z  jdoe@hie  "
            "same MRN on paper chart\n"
            "golden record:\n"
            "  name        Díaz\n"
            "  birth date  1980-03-04\n"
            "provenance:\n"
            "  FIELD        VALUE       FROM RECORD  VERSION  RULE\n"
            "  name.family  Díaz        clinic-a/M1        2  most_recent\n"
            "  birth_date   1980-03-04  clinic-b/X         1  most_frequent\n");
}

TEST(RenderHistoryTest, StateThenAndEvents) {
  id::GetHistoryResponse response = Parse<id::GetHistoryResponse>(R"pb(
    state {
      record {
        source_id { org: "clinic-a" local_id: "M1" }
        version: 2
        state: RECORD_STATE_ACTIVE
        person_id: "P-1"
      }
    }
    events {
      event_id: "E-1"
      sequence: 10
      type: IDENTITY_EVENT_TYPE_RECORD_CREATED
      event_time { seconds: 1793491200 }
      reason: "source_update"
      source_ids { org: "clinic-a" local_id: "M1" }
      record_version: 1
    }
    events {
      event_id: "E-2"
      sequence: 11
      type: IDENTITY_EVENT_TYPE_PERSONS_MERGED
      event_time { seconds: 1793494800 }
      actor { org: "hie" user_id: "jdoe" }
      reason: "dup"
      from_person_id: "P-2"
      to_person_id: "P-1"
    }
  )pb");
  EXPECT_EQ(RenderHistory(response),
            "state then:\n"
            "  record  clinic-a/M1 v2\n"
            "  state   active\n"
            "  person  P-1\n"
            "events (2):\n"
            "SEQ  TIME                  TYPE            ACTOR     REASON         FROM -> TO  "
            "RECORDS         EVENT\n"
            " 10  2026-11-01T00:00:00Z  record-created  -         source_update  -           "
            "clinic-a/M1 v1  E-1\n"
            " 11  2026-11-01T01:00:00Z  persons-merged  jdoe@hie  dup            P-2 -> P-1  "
            "-               E-2\n");
}

TEST(RenderBulkTest, RowAndSummary) {
  id::RegisterSourceRecordRequest request;
  request.mutable_source_id()->set_org("clinic-a");
  request.mutable_source_id()->set_local_id("M1");
  id::RegisterSourceRecordResponse response = Parse<id::RegisterSourceRecordResponse>(R"pb(
    record { version: 1 }
    person_id: "P-1"
    decision { outcome: MATCH_OUTCOME_LINKED }
  )pb");
  EXPECT_EQ(RenderBulkRow(7, request, response), "line 7: clinic-a/M1 v1 linked P-1\n");
  BulkSummary summary{.rows = 5,
                      .created = 3,
                      .new_person = 1,
                      .linked = 1,
                      .review = 1,
                      .unchanged = 1,
                      .errors = 1};
  EXPECT_EQ(RenderBulkSummary(summary),
            "rows 5, created 3, new person 1, linked 1, review 1, unchanged 1, errors 1\n");
}

}  // namespace
}  // namespace hie::hiectl
