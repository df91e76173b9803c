#include "services/identity/store/identity_store_contract.h"

#include <atomic>
#include <thread>

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/time_util.h"
#include "tests/support/source_id.h"

namespace hie::identity {
namespace {

using google::protobuf::util::TimeUtil;

using test_support::Id;

v1::SourceRecord Version(const SourceId& id, int64_t version, const std::string& family,
                         int64_t event_seconds = 1000) {
  v1::SourceRecord r;
  *r.mutable_source_id() = id;
  r.set_version(version);
  r.set_state(v1::RECORD_STATE_ACTIVE);
  r.mutable_demographics()->mutable_name()->set_family(family);
  *r.mutable_source_event_time() = TimeUtil::SecondsToTimestamp(event_seconds);
  *r.mutable_record_time() = TimeUtil::SecondsToTimestamp(event_seconds);
  return r;
}

v1::Person ActivePerson(const std::string& id) {
  v1::Person p;
  p.set_person_id(id);
  p.set_state(v1::PERSON_STATE_ACTIVE);
  p.set_etag("1");
  return p;
}

v1::Link LinkOf(const SourceId& id, const std::string& person) {
  v1::Link l;
  *l.mutable_source_id() = id;
  l.set_person_id(person);
  l.set_method(v1::LINK_METHOD_AUTO);
  l.set_score(12.5);
  return l;
}

TEST_P(IdentityStoreContractTest, RecordVersionsAreKeptAndOneIsCurrent) {
  SourceId a = Id("clinic-a", "MRN1");
  ASSERT_TRUE(Txn([&](IdentityTxn& t) -> absl::Status {
                if (auto s = t.PutRecordVersion(Version(a, 1, "Smith"), true); !s.ok()) {
                  return s.status();
                }
                return t.PutRecordVersion(Version(a, 2, "Smyth"), true).status();
              }).ok());
  ASSERT_TRUE(Txn([&](IdentityTxn& t) -> absl::Status {
                auto current = t.GetRecord(a);
                EXPECT_TRUE(current.ok() && current->has_value());
                EXPECT_EQ((*current)->version(), 2);
                EXPECT_EQ((*current)->demographics().name().family(), "Smyth");
                EXPECT_EQ((*current)->state(), v1::RECORD_STATE_ACTIVE);
                auto first = t.GetRecord(a, 1);
                EXPECT_EQ((*first)->demographics().name().family(), "Smith");
                EXPECT_FALSE(t.GetRecord(a, 3)->has_value());
                EXPECT_FALSE(t.GetRecord(Id("clinic-a", "nope"))->has_value());
                // A skipped version number is refused.
                EXPECT_EQ(t.PutRecordVersion(Version(a, 4, "X"), true).status().code(),
                          absl::StatusCode::kFailedPrecondition);
                // A stale version goes into history only.
                EXPECT_TRUE(t.PutRecordVersion(Version(a, 3, "Old"), false).ok());
                EXPECT_EQ((*t.GetRecord(a))->version(), 2);
                auto versions = t.RecordVersions(a);
                EXPECT_EQ(versions->size(), 3u);
                EXPECT_EQ((*versions)[2].demographics().name().family(), "Old");
                EXPECT_EQ((*versions)[2].version(), 3);
                return absl::OkStatus();
              }).ok());
}

TEST_P(IdentityStoreContractTest, VersionZeroMeansTheNextVersion) {
  SourceId a = Id("clinic-a", "auto");
  ASSERT_TRUE(Txn([&](IdentityTxn& t) -> absl::Status {
                EXPECT_EQ(*t.PutRecordVersion(Version(a, 0, "First"), true), 1);
                EXPECT_EQ(*t.PutRecordVersion(Version(a, 0, "Second"), true), 2);
                EXPECT_EQ(*t.PutRecordVersion(Version(a, 0, "History"), false), 3);
                return absl::OkStatus();
              }).ok());
  ASSERT_TRUE(Txn([&](IdentityTxn& t) -> absl::Status {
                auto current = t.GetRecord(a);
                EXPECT_EQ((*current)->version(), 2);
                EXPECT_EQ((*current)->demographics().name().family(), "Second");
                EXPECT_EQ((*t.GetRecord(a, 3))->version(), 3);
                auto versions = t.RecordVersions(a);
                EXPECT_EQ(versions->size(), 3u);
                EXPECT_EQ((*versions)[0].version(), 1);
                return absl::OkStatus();
              }).ok());
}

TEST_P(IdentityStoreContractTest, LinksInBatchAndLinkedRecords) {
  SourceId a = Id("clinic-a", "1"), b = Id("clinic-b", "9"), c = Id("clinic-c", "5");
  std::string p1;
  ASSERT_TRUE(Txn([&](IdentityTxn& t) -> absl::Status {
                p1 = *t.NewPersonId();
                EXPECT_TRUE(t.PutRecordVersion(Version(b, 1, "B1"), true).ok());
                EXPECT_TRUE(t.PutRecordVersion(Version(b, 2, "B2"), true).ok());
                EXPECT_TRUE(t.PutRecordVersion(Version(a, 1, "A"), true).ok());
                EXPECT_TRUE(t.PutRecordVersion(Version(c, 1, "C"), true).ok());
                EXPECT_TRUE(t.PutPerson(ActivePerson(p1)).ok());
                EXPECT_TRUE(t.PutLink(LinkOf(b, p1)).ok());
                EXPECT_TRUE(t.PutLink(LinkOf(a, p1)).ok());
                return t.SetRecordState(b, v1::RECORD_STATE_INACTIVE, SourceId());
              }).ok());
  ASSERT_TRUE(Txn([&](IdentityTxn& t) -> absl::Status {
                auto links = t.GetLinks({c, b, Id("nowhere", "0"), a, b});
                EXPECT_TRUE(links.ok());
                EXPECT_EQ(links->size(), 5u);
                EXPECT_FALSE((*links)[0].has_value());
                EXPECT_EQ((*links)[1]->source_id().org(), "clinic-b");
                EXPECT_EQ((*links)[1]->person_id(), p1);
                EXPECT_FALSE((*links)[2].has_value());
                EXPECT_EQ((*links)[3]->source_id().org(), "clinic-a");
                EXPECT_EQ((*links)[4]->source_id().org(), "clinic-b");
                EXPECT_TRUE(t.GetLinks({})->empty());

                auto linked = t.LinkedRecordsOf(p1);
                EXPECT_TRUE(linked.ok());
                EXPECT_EQ(linked->size(), 2u);
                EXPECT_EQ((*linked)[0].link.source_id().org(), "clinic-a");  // (org, local_id)
                EXPECT_EQ((*linked)[1].record.version(), 2);
                EXPECT_EQ((*linked)[1].record.demographics().name().family(), "B2");
                EXPECT_EQ((*linked)[1].record.state(), v1::RECORD_STATE_INACTIVE);
                EXPECT_EQ((*linked)[1].record.person_id(), p1);
                EXPECT_TRUE(t.LinkedRecordsOf("P-nobody")->empty());
                return absl::OkStatus();
              }).ok());
  // The same through a record of the person, in a read-only call.
  ASSERT_TRUE(store_
                  ->Read(absl::Now() + absl::Seconds(10),
                         [&](IdentityTxn& t) -> absl::Status {
                           auto with = t.LinkedRecordsWith(a);
                           EXPECT_TRUE(with.ok());
                           EXPECT_EQ(with->size(), 2u);
                           EXPECT_EQ((*with)[1].record.demographics().name().family(), "B2");
                           EXPECT_TRUE(t.LinkedRecordsWith(c)->empty());  // not linked
                           EXPECT_TRUE(t.LinkedRecordsWith(Id("nowhere", "0"))->empty());
                           return absl::OkStatus();
                         })
                  .ok());
}

TEST_P(IdentityStoreContractTest, RecordStateAndSupersededBy) {
  SourceId a = Id("clinic-a", "1"), b = Id("clinic-a", "2");
  ASSERT_TRUE(Txn([&](IdentityTxn& t) -> absl::Status {
                EXPECT_TRUE(t.PutRecordVersion(Version(a, 1, "A"), true).ok());
                EXPECT_EQ(t.SetRecordState(b, v1::RECORD_STATE_INACTIVE, SourceId()).code(),
                          absl::StatusCode::kNotFound);
                return t.SetRecordState(a, v1::RECORD_STATE_SUPERSEDED, b);
              }).ok());
  ASSERT_TRUE(Txn([&](IdentityTxn& t) -> absl::Status {
                auto r = t.GetRecord(a);
                EXPECT_EQ((*r)->state(), v1::RECORD_STATE_SUPERSEDED);
                EXPECT_EQ((*r)->superseded_by().local_id(), "2");
                return absl::OkStatus();
              }).ok());
}

TEST_P(IdentityStoreContractTest, PersonsAndLinks) {
  SourceId a = Id("clinic-a", "1"), b = Id("clinic-b", "9");
  std::string p1, p2;
  ASSERT_TRUE(Txn([&](IdentityTxn& t) -> absl::Status {
                p1 = *t.NewPersonId();
                p2 = *t.NewPersonId();
                EXPECT_NE(p1, p2);
                EXPECT_TRUE(t.PutRecordVersion(Version(a, 1, "A"), true).ok());
                EXPECT_TRUE(t.PutRecordVersion(Version(b, 1, "B"), true).ok());
                EXPECT_TRUE(t.PutPerson(ActivePerson(p1)).ok());
                EXPECT_TRUE(t.PutPerson(ActivePerson(p2)).ok());
                EXPECT_TRUE(t.PutLink(LinkOf(a, p1)).ok());
                return t.PutLink(LinkOf(b, p1));
              }).ok());
  ASSERT_TRUE(Txn([&](IdentityTxn& t) -> absl::Status {
                auto person = t.GetPerson(p1);
                EXPECT_EQ((*person)->links_size(), 2);
                EXPECT_EQ((*t.GetRecord(b))->person_id(), p1);
                EXPECT_DOUBLE_EQ((*t.GetLink(a))->score(), 12.5);
                // Re-linking replaces: a record has exactly one link.
                EXPECT_TRUE(t.PutLink(LinkOf(b, p2)).ok());
                EXPECT_EQ(t.LinksOf(p1)->size(), 1u);
                EXPECT_EQ(t.LinksOf(p2)->size(), 1u);
                v1::Person merged = ActivePerson(p2);
                merged.set_state(v1::PERSON_STATE_MERGED);
                merged.set_merged_into_person_id(p1);
                merged.set_etag("2");
                EXPECT_TRUE(t.PutPerson(merged).ok());
                EXPECT_FALSE(t.GetPerson("P-none")->has_value());
                return absl::OkStatus();
              }).ok());
  ASSERT_TRUE(Txn([&](IdentityTxn& t) -> absl::Status {
                auto person = t.GetPerson(p2);
                EXPECT_EQ((*person)->state(), v1::PERSON_STATE_MERGED);
                EXPECT_EQ((*person)->merged_into_person_id(), p1);
                EXPECT_EQ((*person)->etag(), "2");
                return absl::OkStatus();
              }).ok());
}

TEST_P(IdentityStoreContractTest, EventsHaveIncreasingSequencesAndAreFoundBySubject) {
  SourceId a = Id("clinic-a", "1");
  std::vector<std::string> ids;
  ASSERT_TRUE(Txn([&](IdentityTxn& t) -> absl::Status {
                int64_t last = 0;
                for (int i = 0; i < 4; ++i) {
                  v1::IdentityEvent e;
                  e.set_type(v1::IDENTITY_EVENT_TYPE_RECORD_LINKED);
                  *e.mutable_event_time() = TimeUtil::SecondsToTimestamp(100 + i * 10);
                  if (i % 2 == 0) *e.add_source_ids() = a;
                  e.set_to_person_id(i < 2 ? "P1" : "P2");
                  if (i == 3) e.add_affected_person_ids("P1");
                  auto seq = t.AppendEvent(&e);
                  EXPECT_TRUE(seq.ok());
                  EXPECT_GT(*seq, last);
                  last = *seq;
                  EXPECT_FALSE(e.event_id().empty());
                  ids.push_back(e.event_id());
                }
                return absl::OkStatus();
              }).ok());
  ASSERT_TRUE(Txn([&](IdentityTxn& t) -> absl::Status {
                EXPECT_EQ((*t.GetEvent(ids[2]))->to_person_id(), "P2");
                EXPECT_FALSE(t.GetEvent("E-none")->has_value());
                auto p1 = t.EventsAboutPerson("P1", absl::InfiniteFuture(), 0, 1000);
                EXPECT_EQ(p1->size(), 3u);  // events 0, 1 and 3 (affected)
                auto p1_early = t.EventsAboutPerson("P1", absl::FromUnixSeconds(110), 0, 1000);
                EXPECT_EQ(p1_early->size(), 2u);
                auto rec = t.EventsAboutRecord(a, absl::InfiniteFuture(), 0, 1000);
                EXPECT_EQ(rec->size(), 2u);
                EXPECT_LT((*rec)[0].sequence(), (*rec)[1].sequence());
                // Pages: at most `limit`, then on after the last sequence seen.
                auto first = t.EventsAboutPerson("P1", absl::InfiniteFuture(), 0, 2);
                EXPECT_EQ(first->size(), 2u);
                auto rest =
                    t.EventsAboutPerson("P1", absl::InfiniteFuture(), first->back().sequence(), 2);
                EXPECT_EQ(rest->size(), 1u);
                EXPECT_EQ(rest->front().sequence(), (*p1)[2].sequence());
                EXPECT_TRUE(t.EventsAboutRecord(a, absl::InfiniteFuture(), (*rec)[1].sequence(), 10)
                                ->empty());
                return absl::OkStatus();
              }).ok());
}

v1::IdentityEvent RecordCreated(const SourceId& id) {
  v1::IdentityEvent e;
  e.set_type(v1::IDENTITY_EVENT_TYPE_RECORD_CREATED);
  *e.add_source_ids() = id;
  return e;
}

TEST_P(IdentityStoreContractTest, EventsSinceFollowsTheHistoryInOrder) {
  std::vector<int64_t> sequences;
  ASSERT_TRUE(Txn([&](IdentityTxn& t) -> absl::Status {
                EXPECT_EQ(*t.LastEventSequence(), 0);
                for (int i = 0; i < 5; ++i) {
                  v1::IdentityEvent e = RecordCreated(Id("clinic-a", std::to_string(i)));
                  sequences.push_back(*t.AppendEvent(&e));
                }
                return absl::OkStatus();
              }).ok());
  ASSERT_TRUE(Txn([&](IdentityTxn& t) -> absl::Status {
                EXPECT_EQ(*t.LastEventSequence(), sequences.back());
                auto all = t.EventsSince(0, 100, {});
                EXPECT_EQ(all->size(), 5u);
                auto tail = t.EventsSince(sequences[1], 2, {});
                EXPECT_EQ(tail->size(), 2u);
                EXPECT_EQ((*tail)[0].sequence(), sequences[2]);
                EXPECT_EQ((*tail)[0].source_ids(0).local_id(), "2");
                EXPECT_FALSE((*tail)[0].event_id().empty());
                EXPECT_TRUE(t.EventsSince(sequences.back(), 10, {})->empty());
                return absl::OkStatus();
              }).ok());
}

// A rolled-back transaction leaves a gap: its sequence is never used again. A follower asks for
// the sequences it has not seen by number; only those that exist come back, first.
TEST_P(IdentityStoreContractTest, EventsSinceAnswersMissingSequencesThatExist) {
  int64_t first = 0, rolled_back = 0, last = 0;
  ASSERT_TRUE(Txn([&](IdentityTxn& t) -> absl::Status {
                v1::IdentityEvent e = RecordCreated(Id("clinic-a", "1"));
                first = *t.AppendEvent(&e);
                return absl::OkStatus();
              }).ok());
  absl::Status status = Txn([&](IdentityTxn& t) -> absl::Status {
    v1::IdentityEvent e = RecordCreated(Id("clinic-a", "gone"));
    rolled_back = *t.AppendEvent(&e);
    return absl::AbortedError("rolled back on purpose");
  });
  ASSERT_EQ(status.code(), absl::StatusCode::kAborted);
  ASSERT_TRUE(Txn([&](IdentityTxn& t) -> absl::Status {
                for (int i = 2; i <= 3; ++i) {
                  v1::IdentityEvent e = RecordCreated(Id("clinic-a", std::to_string(i)));
                  last = *t.AppendEvent(&e);
                }
                return absl::OkStatus();
              }).ok());
  ASSERT_GT(rolled_back, first);
  ASSERT_GT(last - 1, rolled_back) << "a rolled-back sequence was used again";
  ASSERT_TRUE(Txn([&](IdentityTxn& t) -> absl::Status {
                // Seen through `last - 1`; `first` and the rolled-back one are still missing.
                auto events = t.EventsSince(last - 1, 10, {rolled_back, first});
                EXPECT_TRUE(events.ok()) << events.status();
                std::vector<int64_t> got;
                for (const v1::IdentityEvent& e : *events) got.push_back(e.sequence());
                EXPECT_EQ(got, (std::vector<int64_t>{first, last}));
                // Missing sequences above after_sequence are not answered twice.
                auto once = t.EventsSince(last - 1, 10, {last});
                EXPECT_EQ(once->size(), 1u);
                EXPECT_EQ(t.EventsSince(last - 1, 1, {first})->front().sequence(), first);
                return absl::OkStatus();
              }).ok());
}

v1::ReviewTask Task(const std::string& id, const SourceId& left, const SourceId& right,
                    double score, int64_t created) {
  v1::ReviewTask task;
  task.set_task_id(id);
  task.set_state(v1::REVIEW_TASK_STATE_OPEN);
  *task.mutable_left()->mutable_source_id() = left;
  *task.mutable_right()->mutable_source_id() = right;
  task.set_left_person_id("PL" + id);
  task.set_right_person_id("PR");
  task.mutable_explanation()->set_total_score(score);
  *task.mutable_create_time() = TimeUtil::SecondsToTimestamp(created);
  return task;
}

TEST_P(IdentityStoreContractTest, ReviewTasksFilterOrderAndPage) {
  SourceId a = Id("clinic-a", "1"), b = Id("clinic-b", "2"), c = Id("clinic-c", "3");
  std::vector<std::string> ids;
  ASSERT_TRUE(Txn([&](IdentityTxn& t) -> absl::Status {
                for (int i = 0; i < 3; ++i) ids.push_back(*t.NewTaskId());
                EXPECT_NE(ids[0], ids[1]);
                EXPECT_TRUE(t.PutTask(Task(ids[0], a, b, 5.0, 300)).ok());
                EXPECT_TRUE(t.PutTask(Task(ids[1], c, b, 9.0, 100)).ok());
                v1::ReviewTask closed = Task(ids[2], a, c, 7.0, 200);
                closed.set_state(v1::REVIEW_TASK_STATE_RESOLVED_DIFFERENT);
                return t.PutTask(closed);
              }).ok());
  ASSERT_TRUE(
      Txn([&](IdentityTxn& t) -> absl::Status {
        auto open = t.ListTasks(TaskFilter{});
        EXPECT_EQ(open->size(), 2u);
        EXPECT_EQ((*open)[0].task_id(), ids[1]) << "oldest first";
        auto by_score = t.ListTasks(TaskFilter{.order_by_score_desc = true});
        EXPECT_EQ((*by_score)[0].task_id(), ids[1]);
        auto at_a = t.ListTasks(TaskFilter{.org = "clinic-a"});
        EXPECT_EQ(at_a->size(), 1u);
        auto page2 = t.ListTasks(TaskFilter{.limit = 1, .offset = 1});
        EXPECT_EQ(page2->size(), 1u);
        EXPECT_EQ((*page2)[0].task_id(), ids[0]);
        EXPECT_EQ(*t.CountTasks(TaskFilter{}), 2);
        EXPECT_EQ(*t.CountTasks(TaskFilter{.state = v1::REVIEW_TASK_STATE_RESOLVED_DIFFERENT}), 1);
        auto by_person = t.ListTasks(TaskFilter{.person_id = "PL" + ids[0]});
        EXPECT_EQ(by_person->size(), 1u);
        EXPECT_EQ(t.OpenTasksWith(b)->size(), 2u);
        EXPECT_EQ(t.OpenTasksWith(a)->size(), 1u);
        EXPECT_EQ((*t.GetTask(ids[2]))->state(), v1::REVIEW_TASK_STATE_RESOLVED_DIFFERENT);
        return absl::OkStatus();
      }).ok());
}

TEST_P(IdentityStoreContractTest, NotAMatchPairsAreUnordered) {
  SourceId a = Id("clinic-a", "1"), b = Id("clinic-b", "2");
  ASSERT_TRUE(Txn([&](IdentityTxn& t) -> absl::Status {
                v1::NotAMatch d;
                *d.mutable_a() = a;
                *d.mutable_b() = b;
                d.set_reason("different people");
                EXPECT_TRUE(t.PutNotAMatch(d).ok());
                EXPECT_EQ(t.NotAMatchesOf(a)->size(), 1u);
                EXPECT_EQ(t.NotAMatchesOf(b)->size(), 1u);
                EXPECT_TRUE(t.RemoveNotAMatch(b, a).ok());
                EXPECT_TRUE(t.NotAMatchesOf(a)->empty());
                return absl::OkStatus();
              }).ok());
}

TEST_P(IdentityStoreContractTest, IdempotentResultsAreStored) {
  ASSERT_TRUE(Txn([&](IdentityTxn& t) -> absl::Status {
                EXPECT_FALSE(t.GetIdempotent("k1")->has_value());
                return t.PutIdempotent("k1", {"fingerprint", std::string("resp\0onse", 9)});
              }).ok());
  ASSERT_TRUE(Txn([&](IdentityTxn& t) -> absl::Status {
                auto got = t.GetIdempotent("k1");
                EXPECT_EQ((*got)->request_fingerprint, "fingerprint");
                EXPECT_EQ((*got)->response, std::string("resp\0onse", 9));
                return absl::OkStatus();
              }).ok());
}

// The batch reads answer, position by position, what the single reads answer (including
// writes of the same transaction, unknown ids and repeated ids).
TEST_P(IdentityStoreContractTest, BatchReadsAnswerAsTheSingleReads) {
  SourceId a = Id("clinic-a", "1"), b = Id("clinic-b", "2"), c = Id("clinic-c", "3");
  ASSERT_TRUE(Txn([&](IdentityTxn& t) -> absl::Status {
                EXPECT_TRUE(t.PutRecordVersion(Version(a, 1, "A1"), true).ok());
                EXPECT_TRUE(t.PutRecordVersion(Version(a, 2, "A2"), true).ok());
                EXPECT_TRUE(t.PutRecordVersion(Version(b, 1, "B1"), true).ok());
                EXPECT_TRUE(t.SetRecordState(b, v1::RECORD_STATE_INACTIVE, SourceId()).ok());
                EXPECT_TRUE(t.PutPerson(ActivePerson("P-1")).ok());
                EXPECT_TRUE(t.PutLink(LinkOf(a, "P-1")).ok());
                for (const auto& [x, y] : {std::pair{a, b}, std::pair{c, a}}) {
                  v1::NotAMatch d;
                  *d.mutable_a() = x;
                  *d.mutable_b() = y;
                  EXPECT_TRUE(t.PutNotAMatch(d).ok());
                }
                return t.PutIdempotent("k1", {"f1", std::string("r\0x", 3)});
              }).ok());
  ASSERT_TRUE(
      Txn([&](IdentityTxn& t) -> absl::Status {
        EXPECT_TRUE(t.PutIdempotent("k2", {"f2", "r2"}).ok());  // this transaction's
        const std::vector<SourceId> ids = {c, a, Id("nowhere", "0"), b, a};
        auto records = t.GetRecords(ids);
        auto refusals = t.NotAMatchesOfRecords(ids);
        EXPECT_TRUE(records.ok() && refusals.ok());
        EXPECT_EQ(records->size(), ids.size());
        EXPECT_EQ(refusals->size(), ids.size());
        for (size_t i = 0; i < ids.size(); ++i) {
          auto record = t.GetRecord(ids[i]);
          EXPECT_EQ((*records)[i].has_value(), record->has_value()) << i;
          if (record->has_value() && (*records)[i].has_value()) {
            EXPECT_EQ((*records)[i]->SerializeAsString(), (*record)->SerializeAsString()) << i;
          }
          auto refused = t.NotAMatchesOf(ids[i]);
          EXPECT_EQ((*refusals)[i].size(), refused->size()) << i;
          for (size_t k = 0; k < refused->size() && k < (*refusals)[i].size(); ++k) {
            EXPECT_EQ((*refusals)[i][k].SerializeAsString(), (*refused)[k].SerializeAsString());
          }
        }
        EXPECT_EQ((*records)[1]->demographics().name().family(), "A2");
        EXPECT_EQ((*records)[1]->person_id(), "P-1");
        EXPECT_EQ((*records)[3]->state(), v1::RECORD_STATE_INACTIVE);
        EXPECT_EQ((*refusals)[1].size(), 2u);
        EXPECT_TRUE((*refusals)[2].empty());

        auto stored = t.GetIdempotents({"k2", "nope", "k1"});
        EXPECT_TRUE(stored.ok());
        EXPECT_EQ(stored->size(), 3u);
        EXPECT_EQ((*stored)[0]->request_fingerprint, "f2");
        EXPECT_FALSE((*stored)[1].has_value());
        EXPECT_EQ((*stored)[2]->response, std::string("r\0x", 3));
        auto links = t.LinksOfPersons({"P-nobody", "P-1", "P-1"});
        EXPECT_TRUE(links.ok());
        EXPECT_EQ(links->size(), 3u);
        EXPECT_TRUE((*links)[0].empty());
        for (size_t i : {1u, 2u}) {
          EXPECT_EQ((*links)[i].size(), 1u);
          EXPECT_EQ((*links)[i][0].SerializeAsString(), (*t.LinksOf("P-1"))[0].SerializeAsString());
        }
        EXPECT_TRUE(t.LinksOfPersons({})->empty());
        EXPECT_TRUE(t.GetRecords({})->empty());
        EXPECT_TRUE(t.NotAMatchesOfRecords({})->empty());
        EXPECT_TRUE(t.GetIdempotents({})->empty());
        return absl::OkStatus();
      }).ok());
}

// The batch writes store what the single writes store, in one call for many rows.
TEST_P(IdentityStoreContractTest, BatchWritesStoreWhatTheSingleWritesStore) {
  SourceId a = Id("clinic-a", "1"), b = Id("clinic-b", "2");
  v1::Link odd = LinkOf(b, "P-2");
  odd.set_score(0.1 + 0.2);  // every bit of the score survives
  odd.set_event_id("E0000000042");
  std::vector<v1::IdentityEvent> events(3);
  ASSERT_TRUE(
      Txn([&](IdentityTxn& t) -> absl::Status {
        v1::SourceRecord inactive = Version(b, 0, "B");
        inactive.set_state(v1::RECORD_STATE_INACTIVE);
        EXPECT_TRUE(t.PutFirstVersions({Version(a, 1, "A"), inactive}).ok());
        EXPECT_TRUE(t.PutPersons({ActivePerson("P-1"), ActivePerson("P-2")}).ok());
        EXPECT_TRUE(t.PutLinks({LinkOf(a, "P-1"), odd}).ok());
        v1::IdentityEvent before = RecordCreated(a);
        int64_t first = *t.AppendEvent(&before);
        for (size_t i = 0; i < events.size(); ++i) {
          events[i] = RecordCreated(i == 1 ? b : a);
          events[i].set_to_person_id(absl::StrCat("P-", i));
        }
        EXPECT_TRUE(t.AppendEvents({&events[0], &events[1], &events[2]}).ok());
        EXPECT_TRUE(t.AppendEvents({}).ok());
        EXPECT_GT(events[0].sequence(), first);
        EXPECT_GT(events[1].sequence(), events[0].sequence());
        EXPECT_GT(events[2].sequence(), events[1].sequence());
        EXPECT_FALSE(events[2].event_id().empty());
        v1::IdentityEvent after = RecordCreated(b);
        EXPECT_GT(*t.AppendEvent(&after), events[2].sequence());
        return t.PutIdempotents({{"k1", {"f1", std::string("r\0x", 3)}}, {"k2", {"f2", ""}}});
      }).ok());
  ASSERT_TRUE(Txn([&](IdentityTxn& t) -> absl::Status {
                auto ra = t.GetRecord(a);
                auto rb = t.GetRecord(b);
                EXPECT_EQ((*ra)->version(), 1);
                EXPECT_EQ((*ra)->demographics().name().family(), "A");
                EXPECT_EQ((*ra)->person_id(), "P-1");
                EXPECT_EQ((*ra)->source_event_time().seconds(), 1000);
                EXPECT_EQ((*rb)->state(), v1::RECORD_STATE_INACTIVE);
                EXPECT_EQ(*t.PutRecordVersion(Version(a, 0, "A2"), true), 2);
                EXPECT_EQ((*t.GetPerson("P-1"))->links_size(), 1);
                EXPECT_EQ((*t.GetLink(b))->SerializeAsString(), odd.SerializeAsString());
                EXPECT_EQ(t.LinksOf("P-2")->size(), 1u);
                auto got = t.GetEvent(events[1].event_id());
                EXPECT_EQ((*got)->to_person_id(), "P-1");
                EXPECT_EQ((*got)->sequence(), events[1].sequence());
                EXPECT_EQ(t.EventsAboutRecord(b, absl::InfiniteFuture(), 0, 1000)->size(), 2u);
                EXPECT_EQ(t.EventsAboutPerson("P-2", absl::InfiniteFuture(), 0, 1000)->size(), 1u);
                auto stored = t.GetIdempotents({"k1", "k2"});
                EXPECT_EQ((*stored)[0]->response, std::string("r\0x", 3));
                EXPECT_EQ((*stored)[1]->request_fingerprint, "f2");
                // Batch writes replace, as the single ones do.
                v1::Person merged = ActivePerson("P-2");
                merged.set_state(v1::PERSON_STATE_MERGED);
                merged.set_etag("2");
                EXPECT_TRUE(t.PutPersons({merged}).ok());
                EXPECT_TRUE(t.PutLinks({LinkOf(b, "P-1")}).ok());
                EXPECT_TRUE(t.PutIdempotents({{"k2", {"f3", "r3"}}}).ok());
                return absl::OkStatus();
              }).ok());
  ASSERT_TRUE(Txn([&](IdentityTxn& t) -> absl::Status {
                EXPECT_EQ((*t.GetPerson("P-2"))->state(), v1::PERSON_STATE_MERGED);
                EXPECT_EQ((*t.GetPerson("P-1"))->links_size(), 2);
                EXPECT_EQ((*t.GetIdempotent("k2"))->request_fingerprint, "f3");
                return absl::OkStatus();
              }).ok());
  // A first version of a record that has one fails the transaction, which stores nothing.
  SourceId c = Id("clinic-c", "3");
  absl::Status twice = Txn([&](IdentityTxn& t) -> absl::Status {
    if (absl::Status s = t.PutFirstVersions({Version(c, 1, "C"), Version(a, 1, "again")});
        !s.ok()) {
      return s;
    }
    return t.GetRecord(a).status();
  });
  EXPECT_EQ(twice.code(), absl::StatusCode::kAlreadyExists) << twice;
  ASSERT_TRUE(Txn([&](IdentityTxn& t) -> absl::Status {
                EXPECT_FALSE(t.GetRecord(c)->has_value());
                EXPECT_EQ((*t.GetRecord(a))->demographics().name().family(), "A2");
                return absl::OkStatus();
              }).ok());
}

TEST_P(IdentityStoreContractTest, IdempotentResultsArePurgedOldestFirstBeforeATime) {
  const absl::Time t0 = absl::FromUnixSeconds(1'800'000'000);
  ASSERT_TRUE(
      Txn([&](IdentityTxn& t) -> absl::Status {
        for (int i = 0; i < 4; ++i) {  // k0 oldest ... k3 newest
          EXPECT_TRUE(
              t.PutIdempotent("k" + std::to_string(i), {"f", "r", t0 + absl::Hours(i)}).ok());
        }
        return absl::OkStatus();
      }).ok());
  ASSERT_TRUE(Txn([&](IdentityTxn& t) -> absl::Status {
                // Before t0 + 2h: k0 and k1; at most one at a time, the oldest first.
                EXPECT_EQ(*t.PurgeIdempotentBefore(t0 + absl::Hours(2), 1), 1);
                EXPECT_FALSE(t.GetIdempotent("k0")->has_value());
                EXPECT_TRUE(t.GetIdempotent("k1")->has_value());
                EXPECT_EQ(*t.PurgeIdempotentBefore(t0 + absl::Hours(2), 10), 1);
                EXPECT_EQ(*t.PurgeIdempotentBefore(t0 + absl::Hours(2), 10), 0);
                EXPECT_FALSE(t.GetIdempotent("k1")->has_value());
                auto kept = t.GetIdempotent("k2");
                EXPECT_TRUE(kept->has_value());
                EXPECT_EQ((*kept)->stored_at, t0 + absl::Hours(2));
                EXPECT_TRUE(t.GetIdempotent("k3")->has_value());
                return absl::OkStatus();
              }).ok());
}

TEST_P(IdentityStoreContractTest, FailedTransactionChangesNothing) {
  SourceId a = Id("clinic-a", "1");
  absl::Status status = Txn([&](IdentityTxn& t) -> absl::Status {
    EXPECT_TRUE(t.PutRecordVersion(Version(a, 1, "A"), true).ok());
    EXPECT_TRUE(t.PutPerson(ActivePerson("P-x")).ok());
    return absl::InvalidArgumentError("changed my mind");
  });
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(Txn([&](IdentityTxn& t) -> absl::Status {
                EXPECT_FALSE(t.GetRecord(a)->has_value());
                EXPECT_FALSE(t.GetPerson("P-x")->has_value());
                return absl::OkStatus();
              }).ok());
}

// A failed transaction that changed what is already there (link, task, decision, key, record
// state) leaves every lookup answering as before, including lookups by person and by record.
TEST_P(IdentityStoreContractTest, FailedTransactionRestoresChangedRowsAndTheirLookups) {
  SourceId a = Id("clinic-a", "1"), b = Id("clinic-b", "2");
  std::string task_id;
  auto decision = [&] {
    v1::NotAMatch d;
    *d.mutable_a() = a;
    *d.mutable_b() = b;
    return d;
  };
  ASSERT_TRUE(Txn([&](IdentityTxn& t) -> absl::Status {
                EXPECT_TRUE(t.PutRecordVersion(Version(a, 1, "A"), true).ok());
                EXPECT_TRUE(t.PutRecordVersion(Version(b, 1, "B"), true).ok());
                EXPECT_TRUE(t.PutPerson(ActivePerson("P-1")).ok());
                EXPECT_TRUE(t.PutPerson(ActivePerson("P-2")).ok());
                EXPECT_TRUE(t.PutLink(LinkOf(a, "P-1")).ok());
                EXPECT_TRUE(t.PutLink(LinkOf(b, "P-2")).ok());
                task_id = *t.NewTaskId();
                EXPECT_TRUE(t.PutTask(Task(task_id, a, b, 5.0, 100)).ok());
                EXPECT_TRUE(t.PutNotAMatch(decision()).ok());
                return t.PutIdempotent("k", {"f", "r"});
              }).ok());
  int64_t events_before = 0;
  absl::Status status = Txn([&](IdentityTxn& t) -> absl::Status {
    events_before = *t.LastEventSequence();
    EXPECT_TRUE(t.PutLink(LinkOf(b, "P-1")).ok());  // b moves to P-1
    v1::ReviewTask closed = Task(task_id, a, b, 5.0, 100);
    closed.set_state(v1::REVIEW_TASK_STATE_RESOLVED_DIFFERENT);
    EXPECT_TRUE(t.PutTask(closed).ok());
    EXPECT_TRUE(t.RemoveNotAMatch(b, a).ok());
    EXPECT_TRUE(t.PutIdempotent("k", {"f2", "r2"}).ok());
    EXPECT_TRUE(t.SetRecordState(a, v1::RECORD_STATE_INACTIVE, SourceId()).ok());
    EXPECT_TRUE(t.PutRecordVersion(Version(a, 2, "A2"), true).ok());
    v1::IdentityEvent event;
    event.set_type(v1::IDENTITY_EVENT_TYPE_RECORD_LINKED);
    *event.add_source_ids() = b;
    EXPECT_TRUE(t.AppendEvent(&event).ok());
    return absl::AbortedError("rolled back on purpose");
  });
  EXPECT_EQ(status.code(), absl::StatusCode::kAborted);
  ASSERT_TRUE(Txn([&](IdentityTxn& t) -> absl::Status {
                EXPECT_EQ(t.LinksOf("P-1")->size(), 1u);
                EXPECT_EQ(t.LinksOf("P-2")->size(), 1u);
                EXPECT_EQ((*t.GetLink(b))->person_id(), "P-2");
                EXPECT_EQ(t.OpenTasksWith(b)->size(), 1u);
                EXPECT_EQ(t.NotAMatchesOf(a)->size(), 1u);
                EXPECT_EQ(t.NotAMatchesOf(b)->size(), 1u);
                EXPECT_EQ((*t.GetIdempotent("k"))->request_fingerprint, "f");
                auto record = t.GetRecord(a);
                EXPECT_EQ((*record)->version(), 1);
                EXPECT_EQ((*record)->state(), v1::RECORD_STATE_ACTIVE);
                EXPECT_EQ(t.RecordVersions(a)->size(), 1u);
                EXPECT_EQ(*t.LastEventSequence(), events_before);
                EXPECT_TRUE(t.EventsAboutRecord(b, absl::InfiniteFuture(), 0, 1000)->empty());
                return absl::OkStatus();
              }).ok());
}

TEST_P(IdentityStoreContractTest, ScanActiveRecordsSkipsInactiveAndFillsPerson) {
  SourceId a = Id("clinic-a", "1"), b = Id("clinic-a", "2");
  ASSERT_TRUE(Txn([&](IdentityTxn& t) -> absl::Status {
                EXPECT_TRUE(t.PutRecordVersion(Version(a, 1, "A"), true).ok());
                EXPECT_TRUE(t.PutRecordVersion(Version(a, 2, "A2"), true).ok());
                EXPECT_TRUE(t.PutRecordVersion(Version(b, 1, "B"), true).ok());
                EXPECT_TRUE(t.SetRecordState(b, v1::RECORD_STATE_SUPERSEDED, a).ok());
                EXPECT_TRUE(t.PutPerson(ActivePerson("P1")).ok());
                return t.PutLink(LinkOf(a, "P1"));
              }).ok());
  std::vector<v1::SourceRecord> seen;
  ASSERT_TRUE(store_
                  ->ScanActiveRecords(absl::Now() + absl::Seconds(10),
                                      [&](const v1::SourceRecord& r) { seen.push_back(r); })
                  .ok());
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].version(), 2);
  EXPECT_EQ(seen[0].person_id(), "P1");
}

TEST_P(IdentityStoreContractTest, WritersOnTheSameLockKeyAreSerialised) {
  // Read-modify-write of one value from several threads: lost updates would show as a count
  // below the number of increments.
  constexpr int kThreads = 4, kIncrements = 15;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&] {
      for (int j = 0; j < kIncrements; ++j) {
        absl::Status s = store_->Transact(
            absl::Now() + absl::Seconds(20), {"counter"}, [](IdentityTxn& t) -> absl::Status {
              auto current = t.GetIdempotent("counter");
              if (!current.ok()) return current.status();
              int value = current->has_value() ? std::stoi((*current)->response) : 0;
              return t.PutIdempotent("counter", {"", std::to_string(value + 1)});
            });
        if (!s.ok()) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  ASSERT_TRUE(Txn([&](IdentityTxn& t) -> absl::Status {
                EXPECT_EQ((*t.GetIdempotent("counter"))->response,
                          std::to_string(kThreads * kIncrements));
                return absl::OkStatus();
              }).ok());
}

}  // namespace
}  // namespace hie::identity
