// Two hie-identity replicas (A and B) on one PostgreSQL database and one Redis resolve cache.
// Operator writes on A (UnlinkRecord, MergePersons, UnmergePersons, LinkRecord) must be seen by
// every Resolve on B that starts after the write was acknowledged: no stale cross reference
// from B's cache, whether B resolves once after the write, continuously during the writes, or
// Redis refuses the invalidation for a while (CLIENT PAUSE ... WRITE: reads are served, writes
// block, so the writer's DEL times out).
//
// What a Resolve must answer is derived from the writes' own responses (the persons with their
// links after each write), never from another Resolve.

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "services/common/redis/redis_client.h"
#include "tests/e2e/e2e_harness.h"

namespace hie::e2e {
namespace {

namespace v1 = ::hie::identity::v1;

// The answer a Resolve of a record must give: its person and the records linked to it.
struct Answer {
  std::string person;
  std::set<std::string> members;
  bool operator==(const Answer&) const = default;
};
using State = std::map<std::string, Answer>;  // source id -> answer

std::string Show(const Answer& a) {
  return absl::StrCat(a.person, " {", absl::StrJoin(a.members, ", "), "}");
}

// Sets the answer of every record linked to `person` (a person with no links changes nothing).
void Apply(const v1::Person& person, State& state) {
  std::set<std::string> members;
  for (const v1::Link& link : person.links()) members.insert(SidString(link.source_id()));
  for (const std::string& member : members) state[member] = {person.person_id(), members};
}

Answer AnswerOf(const v1::ResolveResponse& response) {
  Answer a{response.person_id(), {}};
  for (const auto& ref : response.cross_references()) a.members.insert(SidString(ref.source_id()));
  return a;
}

class ReplicasTest : public E2eTest {
 protected:
  void SetUp() override {
    E2eTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    StartPostgres(/*fast=*/true);
    StartRedis();
    if (HasFatalFailure()) return;
    a_ = StartIdentity("replica-a", /*with_redis=*/true);
    b_ = StartIdentity("replica-b", /*with_redis=*/true);
    ASSERT_TRUE(a_ != nullptr && b_ != nullptr);
    on_a_ = a_->Stub("operator");
    on_b_ = b_->Stub("operator");
    RegisterPeople();
  }

  // Person 1: the same patient at clinic-a, -b and -c; person 2: another at clinic-a and -b.
  void RegisterPeople() {
    const std::vector<std::pair<std::string, int>> records = {{"clinic-a/X1", 1},
                                                              {"clinic-b/X2", 1},
                                                              {"clinic-c/X3", 1},
                                                              {"clinic-a/Y1", 2},
                                                              {"clinic-b/Y2", 2}};
    for (const auto& [sid, patient] : records) {
      std::vector<std::string> parts = absl::StrSplit(sid, '/');
      v1::RegisterSourceRecordRequest request = WithContext(v1::RegisterSourceRecordRequest());
      *request.mutable_source_id() = Sid(parts[0], parts[1]);
      *request.mutable_demographics() = DemographicsOf(MadeUpPatient(patient));
      request.set_idempotency_key("register-" + sid);
      v1::RegisterSourceRecordResponse response;
      grpc::Status status = on_a_->RegisterSourceRecord(Deadline().get(), request, &response);
      ASSERT_TRUE(status.ok()) << sid << ": " << status.error_message();
      (patient == 1 ? p1_ : p2_) = response.person_id();
      ids_.push_back(sid);
    }
    for (const std::string& person : {p1_, p2_}) {
      v1::GetPersonRequest get = WithContext(v1::GetPersonRequest());
      get.set_person_id(person);
      v1::Person p;
      ASSERT_TRUE(on_a_->GetPerson(Deadline().get(), get, &p).ok());
      Apply(p, state_);
    }
    ASSERT_EQ(state_["clinic-c/X3"].members.size(), 3u)
        << "set-up: the same patient at three clinics was not linked automatically";
    ASSERT_EQ(state_["clinic-b/Y2"].members.size(), 2u)
        << "set-up: the same patient at two clinics was not linked automatically";
  }

  hie::common::v1::SourceId IdOf(const std::string& sid) {
    std::vector<std::string> parts = absl::StrSplit(sid, '/');
    return Sid(parts[0], parts[1]);
  }

  absl::StatusOr<Answer> ResolveOn(v1::IdentityService::Stub& stub, const std::string& sid) {
    v1::ResolveRequest request = WithContext(v1::ResolveRequest());
    *request.mutable_source_id() = IdOf(sid);
    v1::ResolveResponse response;
    grpc::Status status = stub.Resolve(Deadline().get(), request, &response);
    if (!status.ok()) {
      return absl::UnknownError(
          absl::StrCat(CodeName(status.error_code()), " ", status.error_message()));
    }
    return AnswerOf(response);
  }

  // Resolves every record on B (filling the cache with the current answers).
  void WarmB() {
    for (const std::string& sid : ids_) {
      for (int i = 0; i < 2; ++i) {
        absl::StatusOr<Answer> answer = ResolveOn(*on_b_, sid);
        ASSERT_TRUE(answer.ok()) << sid << ": " << answer.status();
      }
    }
  }

  // The number of cached Resolve answers in Redis.
  int CachedAnswers() {
    redis::RedisClient client({.port = redis_->port()});
    absl::StatusOr<redis::RedisReply> keys = client.Command({"KEYS", "hie:identity:resolve:*"});
    if (!keys.ok()) return -1;
    return static_cast<int>(keys->elements.size());
  }

  // Every record resolved on B against the expected state; the differences.
  std::vector<std::string> StaleOnB(const State& state, const std::string& after) {
    std::vector<std::string> stale;
    for (const std::string& sid : ids_) {
      absl::StatusOr<Answer> answer = ResolveOn(*on_b_, sid);
      if (!answer.ok()) {
        stale.push_back(absl::StrCat(sid, ": ", answer.status().ToString()));
      } else if (!(*answer == state.at(sid))) {
        stale.push_back(absl::StrCat("after ", after, ", B resolved ", sid, " to ", Show(*answer),
                                     " instead of ", Show(state.at(sid))));
      }
    }
    return stale;
  }

  // The writes, each applied to `state` from its response. `key` is the idempotency key.
  grpc::Status Unlink(const std::string& sid, const std::string& key, State& state,
                      absl::Duration timeout = absl::Seconds(10)) {
    v1::UnlinkRecordRequest request = WithContext(v1::UnlinkRecordRequest());
    *request.mutable_source_id() = IdOf(sid);
    request.set_reason("e2e: not the same patient");
    request.set_idempotency_key(key);
    v1::UnlinkRecordResponse response;
    grpc::Status status = on_a_->UnlinkRecord(Deadline(timeout).get(), request, &response);
    if (status.ok()) {
      Apply(response.previous_person(), state);
      Apply(response.new_person(), state);
    }
    return status;
  }
  grpc::Status Link(const std::string& sid, const std::string& person, const std::string& key,
                    State& state, absl::Duration timeout = absl::Seconds(10)) {
    v1::LinkRecordRequest request = WithContext(v1::LinkRecordRequest());
    *request.mutable_source_id() = IdOf(sid);
    request.set_person_id(person);
    request.set_reason("e2e: the same patient after all");
    request.set_idempotency_key(key);
    v1::LinkRecordResponse response;
    grpc::Status status = on_a_->LinkRecord(Deadline(timeout).get(), request, &response);
    if (status.ok()) {
      Apply(response.previous_person(), state);
      Apply(response.person(), state);
    }
    return status;
  }
  grpc::Status Merge(const std::string& survivor, const std::string& merged, const std::string& key,
                     State& state, std::string* merge_event,
                     absl::Duration timeout = absl::Seconds(10)) {
    v1::MergePersonsRequest request = WithContext(v1::MergePersonsRequest());
    request.set_survivor_person_id(survivor);
    request.set_merged_person_id(merged);
    request.set_reason("e2e: duplicates");
    request.set_force(true);
    request.set_idempotency_key(key);
    v1::MergePersonsResponse response;
    grpc::Status status = on_a_->MergePersons(Deadline(timeout).get(), request, &response);
    if (status.ok()) {
      Apply(response.survivor(), state);
      *merge_event = response.merge_event_id();
    }
    return status;
  }
  grpc::Status Unmerge(const std::string& merge_event, const std::string& key, State& state,
                       absl::Duration timeout = absl::Seconds(10)) {
    v1::UnmergePersonsRequest request = WithContext(v1::UnmergePersonsRequest());
    request.set_merge_event_id(merge_event);
    request.set_reason("e2e: not duplicates after all");
    request.set_idempotency_key(key);
    v1::UnmergePersonsResponse response;
    grpc::Status status = on_a_->UnmergePersons(Deadline(timeout).get(), request, &response);
    if (status.ok()) {
      Apply(response.survivor(), state);
      Apply(response.restored(), state);
    }
    return status;
  }

  IdentityProcess* a_ = nullptr;
  IdentityProcess* b_ = nullptr;
  std::unique_ptr<v1::IdentityService::Stub> on_a_, on_b_;
  std::string p1_, p2_;
  std::vector<std::string> ids_;
  State state_;
};

TEST_F(ReplicasTest, EveryWriteOnAIsSeenByTheNextResolveOnB) {
  WarmB();
  ASSERT_GE(CachedAnswers(), 5) << "B did not cache its Resolve answers: the test would prove "
                                   "nothing about the cache";

  // Each write on A, then at once every record resolved on B (its cache warm with the answers
  // from before the write).
  ASSERT_TRUE(Unlink("clinic-c/X3", "unlink-1", state_).ok());
  for (const std::string& s : StaleOnB(state_, "UnlinkRecord")) ADD_FAILURE() << s;
  const std::string x3_person = state_["clinic-c/X3"].person;

  WarmB();
  std::string merge_event;
  ASSERT_TRUE(Merge(p1_, p2_, "merge-1", state_, &merge_event).ok());
  for (const std::string& s : StaleOnB(state_, "MergePersons")) ADD_FAILURE() << s;

  WarmB();
  ASSERT_TRUE(Unmerge(merge_event, "unmerge-1", state_).ok());
  for (const std::string& s : StaleOnB(state_, "UnmergePersons")) ADD_FAILURE() << s;

  WarmB();
  ASSERT_TRUE(Link("clinic-c/X3", p1_, "link-1", state_).ok());
  for (const std::string& s : StaleOnB(state_, "LinkRecord")) ADD_FAILURE() << s;
  EXPECT_NE(x3_person, p1_);
}

TEST_F(ReplicasTest, ResolvesOnBRacingWritesOnANeverAnswerFromBeforeAnAcknowledgedWrite) {
  WarmB();
  struct Sample {
    std::string sid;
    absl::Time start, end;
    absl::StatusOr<Answer> answer;
  };
  struct Write {
    std::string what;
    absl::Time issued, acked;
    State after;
  };
  std::vector<Write> writes = {{"initial", absl::InfinitePast(), absl::InfinitePast(), state_}};
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::vector<Sample> samples;
  std::vector<std::thread> resolvers;
  for (int t = 0; t < 3; ++t) {
    resolvers.emplace_back([&, t] {
      auto stub = b_->Stub("operator");
      std::vector<Sample> mine;
      for (size_t i = t; !stop; ++i) {
        Sample s;
        s.sid = ids_[i % ids_.size()];
        s.start = absl::Now();
        s.answer = ResolveOn(*stub, s.sid);
        s.end = absl::Now();
        mine.push_back(std::move(s));
      }
      std::lock_guard lock(mu);
      for (Sample& s : mine) samples.push_back(std::move(s));
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));

  State state = state_;
  auto write = [&](const std::string& what, auto operation) {
    Write w{what, absl::Now(), {}, {}};
    grpc::Status status = operation(state);
    w.acked = absl::Now();
    w.after = state;
    EXPECT_TRUE(status.ok()) << what << ": " << CodeName(status.error_code()) << " "
                             << status.error_message();
    writes.push_back(std::move(w));
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  };
  for (int round = 0; round < 3; ++round) {
    std::string merge_event;
    const std::string r = std::to_string(round);
    write("MergePersons " + r, [&](State& s) { return Merge(p1_, p2_, "m" + r, s, &merge_event); });
    write("UnmergePersons " + r, [&](State& s) { return Unmerge(merge_event, "um" + r, s); });
    write("UnlinkRecord " + r, [&](State& s) { return Unlink("clinic-c/X3", "u" + r, s); });
    write("LinkRecord " + r, [&](State& s) { return Link("clinic-c/X3", p1_, "l" + r, s); });
  }
  stop = true;
  for (std::thread& t : resolvers) t.join();

  // A sample that started after write k was acknowledged may show write k or any later write
  // issued before the sample ended; nothing older.
  int checked = 0, stale = 0, failed = 0;
  std::vector<std::string> examples;
  for (const Sample& s : samples) {
    if (!s.answer.ok()) {
      ++failed;
      if (examples.size() < 10) examples.push_back(s.sid + ": " + s.answer.status().ToString());
      continue;
    }
    size_t k = 0;
    while (k + 1 < writes.size() && writes[k + 1].acked <= s.start) ++k;
    bool allowed = false;
    for (size_t j = k; j < writes.size() && (j == k || writes[j].issued < s.end); ++j) {
      allowed |= writes[j].after.at(s.sid) == *s.answer;
    }
    ++checked;
    if (!allowed) {
      ++stale;
      if (examples.size() < 10) {
        examples.push_back(absl::StrCat(s.sid, " resolved on B ",
                                        absl::FormatDuration(s.start - writes[k].acked), " after '",
                                        writes[k].what, "' was acknowledged: ", Show(*s.answer),
                                        ", expected ", Show(writes[k].after.at(s.sid))));
      }
    }
  }
  std::cerr << "e2e: " << checked << " Resolve answers on B checked against " << writes.size() - 1
            << " writes on A\n";
  EXPECT_GT(checked, 100);
  EXPECT_EQ(failed, 0) << absl::StrJoin(examples, "\n");
  EXPECT_EQ(stale, 0) << stale << " stale answers, e.g.:\n" << absl::StrJoin(examples, "\n");
}

TEST_F(ReplicasTest, NoStaleAnswerOnBWhenRedisCannotTakeTheInvalidation) {
  redis::RedisClient redis_admin({.port = redis_->port()});
  // Pauses Redis writes for 3 s (reads are still served), runs the write on A with a long
  // deadline (the service may wait for the cache instead of failing), and checks B at once and
  // after the pause.
  auto paused_write = [&](const std::string& what, auto operation) {
    WarmB();
    ASSERT_GE(CachedAnswers(), 5) << "B did not cache its answers before " << what;
    const absl::Time paused = absl::Now();
    absl::StatusOr<redis::RedisReply> reply =
        redis_admin.Command({"CLIENT", "PAUSE", "3000", "WRITE"});
    ASSERT_TRUE(reply.ok()) << reply.status();
    grpc::Status status = operation(state_);
    const absl::Duration took = absl::Now() - paused;
    ASSERT_TRUE(status.ok()) << what
                             << " with Redis writes paused: " << CodeName(status.error_code())
                             << " " << status.error_message();
    std::cerr << "e2e: " << what << " with Redis writes paused took " << absl::FormatDuration(took)
              << "\n";
    for (const std::string& s : StaleOnB(state_, what + " (Redis writes paused)")) {
      ADD_FAILURE() << s;
    }
    std::this_thread::sleep_until(absl::ToChronoTime(paused + absl::Milliseconds(3500)));
    for (const std::string& s : StaleOnB(state_, what + " (after the pause)")) ADD_FAILURE() << s;
  };
  std::string merge_event;
  paused_write("MergePersons", [&](State& s) {
    return Merge(p1_, p2_, "merge-paused", s, &merge_event, absl::Seconds(120));
  });
  paused_write("UnmergePersons", [&](State& s) {
    return Unmerge(merge_event, "unmerge-paused", s, absl::Seconds(120));
  });
}

}  // namespace
}  // namespace hie::e2e
