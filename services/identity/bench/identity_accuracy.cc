// hie-identity-accuracy: how well hie-identity's registration decides, measured in process
// against the generator's truth. Not a test: it prints figures. main() is one straight sequence
// of phases (about 220 lines) on purpose: each prints the figure it measured.
//
//   hie-identity-accuracy --records N [--seed 42] [--profile default|diverse] [--params FILE]
//                         [--show-merged K] [--outcomes-out FILE]
//
// The data set is the one of hie-identity-bench (services/identity/bench/generated_dataset.h):
// the first N records of hie::mpi::GeneratePopulation (seed, 5 clinics, about 1.9 records per
// person; --profile diverse: the habits of an independently generated population, 12 clinics,
// see `hie-mpi generate`), mapped to Demographics as the service receives them. Each record is
// registered once, in population order, through IdentityManager::Register with MpiMatcher (the
// default model parameters as hie-identity uses them, or --params FILE as `hie-identity
// --model-params FILE` loads them) over InMemoryIdentityStore. Every registration is a first
// version, so its outcome is LINKED (a CERTAIN person), NEW_PERSON (no candidate) or REVIEW (a new
// person plus review tasks for PROBABLE / POSSIBLE persons).
//
// Printed, against the truth (person ids of the generator):
//  - outcome shares overall and per tenth of the run (does review grow with the index?);
//  - pairwise precision and recall of the automatic links (two records are linked when they end
//    in one person; no review task is resolved), true pairs left unlinked;
//  - records whose person was already registered (they should be linked) and what happened to
//    them; review tasks opened and the share that pair two records of one person, by grade, by
//    score and by the guards that sent them to review;
//  - hard pairs (twin / Jr-Sr / spouse / namesake, both records registered) in one person;
//  - registrations per second (one thread; matching, decision and the in-memory store).
//
// Diagnostics (synthetic data only): --show-merged K prints, for up to K wrongly merged hard
// pairs, the record ids of the merged person with each record's generated person and outcome;
// --outcomes-out FILE writes record_id,generated_person,outcome,person for every registration.

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "hie/mpi/generator.h"
#include "hie/mpi/model.h"
#include "hie/mpi/model_params_file.h"
#include "hie/mpi/nicknames.h"
#include "services/identity/bench/generated_dataset.h"
#include "services/identity/core/identity_manager.h"
#include "services/identity/core/mpi_matcher.h"
#include "services/identity/store/in_memory_identity_store.h"

namespace {

namespace v1 = ::hie::identity::v1;
namespace common = ::hie::common::v1;
using SteadyClock = std::chrono::steady_clock;

struct Flags {
  int64_t records = 10000;
  uint64_t seed = 42;
  std::string profile = "default";  // hie::mpi::ApplyGeneratorProfile's name
  std::string params;
  int64_t show_merged = 0;   // print the records of up to this many wrongly merged hard pairs
  std::string outcomes_out;  // record_id,person,outcome per registration
};

[[noreturn]] void Usage(const std::string& error) {
  if (!error.empty()) std::fprintf(stderr, "hie-identity-accuracy: %s\n", error.c_str());
  std::fprintf(
      stderr,
      "usage: hie-identity-accuracy --records N [--seed S] [--profile default|diverse]\n"
      "                             [--params FILE] [--show-merged K] [--outcomes-out FILE]\n");
  std::exit(2);
}

Flags ParseFlags(int argc, char** argv) {
  Flags f;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") Usage("");
    std::string value;
    if (size_t eq = arg.find('='); eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    } else {
      if (i + 1 >= argc) Usage("flag " + arg + " needs a value");
      value = argv[++i];
    }
    auto integer = [&]() -> int64_t {
      char* end = nullptr;
      const long long v = std::strtoll(value.c_str(), &end, 10);
      if (end == value.c_str() || *end != '\0' || v < 0) Usage("bad number for " + arg);
      return v;
    };
    if (arg == "--records")
      f.records = integer();
    else if (arg == "--seed")
      f.seed = static_cast<uint64_t>(integer());
    else if (arg == "--profile")
      f.profile = value;
    else if (arg == "--params")
      f.params = value;
    else if (arg == "--show-merged")
      f.show_merged = integer();
    else if (arg == "--outcomes-out")
      f.outcomes_out = value;
    else
      Usage("unknown flag " + arg);
  }
  if (f.records <= 0) Usage("--records must be > 0");
  return f;
}

// A clock that advances one millisecond per call: deterministic timestamps.
class StepClock : public hie::identity::Clock {
 public:
  absl::Time Now() const override { return t_ += absl::Milliseconds(1); }

 private:
  mutable absl::Time t_ = absl::FromUnixSeconds(1'800'000'000);
};

int64_t Pairs(int64_t n) { return n * (n - 1) / 2; }

double Share(int64_t part, int64_t whole) {
  return whole == 0 ? 0.0 : static_cast<double>(part) / static_cast<double>(whole);
}

const char* OutcomeName(v1::MatchOutcome o) {
  switch (o) {
    case v1::MATCH_OUTCOME_LINKED:
      return "linked";
    case v1::MATCH_OUTCOME_NEW_PERSON:
      return "new_person";
    case v1::MATCH_OUTCOME_REVIEW:
      return "review";
    default:
      return "other";
  }
}

}  // namespace

int main(int argc, char** argv) {
  const Flags f = ParseFlags(argc, argv);
  absl::StatusOr<hie::mpi::GeneratedPopulation> generated =
      hie::identity::bench::GenerateDataset(f.seed, f.records, f.profile);
  if (!generated.ok()) Usage(std::string(generated.status().message()));
  hie::mpi::GeneratedPopulation population = *std::move(generated);
  absl::StatusOr<hie::mpi::NicknameTable> nicknames =
      hie::mpi::NicknameTable::LoadFile(hie::mpi::DefaultNicknamePath());
  if (!nicknames.ok()) {
    std::fprintf(stderr, "hie-identity-accuracy: %s\n", nicknames.status().ToString().c_str());
    return 2;
  }
  hie::mpi::ModelParams params = hie::mpi::Model::DefaultParams();
  if (!f.params.empty()) {
    absl::StatusOr<hie::mpi::ModelParams> loaded = hie::mpi::LoadModelParamsFile(f.params);
    if (!loaded.ok()) {
      std::fprintf(stderr, "hie-identity-accuracy: %s\n", loaded.status().ToString().c_str());
      return 2;
    }
    params = *loaded;
  }

  hie::identity::InMemoryIdentityStore store;
  hie::identity::MpiMatcher matcher(params, &*nicknames);
  StepClock clock;
  hie::identity::IdentityManager manager(&store, &matcher, &clock);
  hie::identity::CallContext call;
  call.actor.set_org("hie-operations");
  call.actor.set_user_id("identity-accuracy");
  call.actor.set_role(common::ROLE_HIE_OPERATOR);

  const int64_t n = static_cast<int64_t>(population.records.size());
  absl::flat_hash_map<std::string, int64_t> truth_of;    // RecordKey -> generated person
  absl::flat_hash_map<int64_t, int64_t> seen_of_person;  // records registered so far
  std::vector<std::string> person_of(static_cast<size_t>(n));
  std::vector<std::string> outcome_of(static_cast<size_t>(n));
  std::map<std::string, int64_t> outcomes;
  constexpr int kWindows = 10;
  std::vector<std::map<std::string, int64_t>> window(kWindows);
  // Records whose person had a record registered before: each should have been linked.
  int64_t returning = 0, returning_linked = 0, returning_linked_right = 0, returning_review = 0,
          returning_new = 0;
  int64_t first_linked = 0;  // first record of a person linked to someone (a false link)
  int64_t errors = 0;
  const SteadyClock::time_point start = SteadyClock::now();
  for (int64_t i = 0; i < n; ++i) {
    const hie::mpi::LabelledRecord& lr = population.records[static_cast<size_t>(i)];
    v1::RegisterSourceRecordRequest request;
    request.mutable_context()->set_request_id("acc-" + std::to_string(i));
    request.mutable_context()->set_purpose_of_use(common::PURPOSE_OF_USE_OPERATIONS);
    request.set_idempotency_key("acc-" + std::to_string(i));
    *request.mutable_source_id() = hie::identity::bench::SourceIdOf(lr.record);
    *request.mutable_demographics() = hie::identity::bench::ToDemographics(lr.record);
    call.request_id = request.context().request_id();
    absl::StatusOr<v1::RegisterSourceRecordResponse> response = manager.Register(call, request);
    const std::string key = hie::identity::RecordKey(request.source_id());
    truth_of[key] = lr.person_id;
    if (!response.ok()) {
      if (++errors <= 5) {
        std::fprintf(stderr, "register %" PRId64 ": %s\n", i, response.status().ToString().c_str());
      }
      continue;
    }
    const v1::MatchOutcome outcome = response->decision().outcome();
    const std::string name = OutcomeName(outcome);
    ++outcomes[name];
    ++window[static_cast<size_t>(i * kWindows / n)][name];
    person_of[static_cast<size_t>(i)] = response->person_id();
    outcome_of[static_cast<size_t>(i)] = name;
    if (outcome == v1::MATCH_OUTCOME_LINKED && !response->decision().candidates().empty()) {
      outcome_of[static_cast<size_t>(i)] +=
          absl::StrFormat(":%.1f", response->decision().candidates(0).score());
    }
    const bool has_earlier = seen_of_person[lr.person_id]++ > 0;
    if (has_earlier) {
      ++returning;
      if (outcome == v1::MATCH_OUTCOME_LINKED) {
        ++returning_linked;
        // Right when the person it joined holds a record of the same generated person.
        for (const auto& c : response->decision().candidates()) {
          if (c.person_id() != response->person_id()) continue;
          auto t = truth_of.find(hie::identity::RecordKey(c.best_source_id()));
          if (t != truth_of.end() && t->second == lr.person_id) ++returning_linked_right;
          break;
        }
      } else if (outcome == v1::MATCH_OUTCOME_REVIEW) {
        ++returning_review;
      } else {
        ++returning_new;
      }
    } else if (outcome == v1::MATCH_OUTCOME_LINKED) {
      ++first_linked;
    }
    if ((i + 1) % 20000 == 0) {
      std::fprintf(stderr, "  %" PRId64 " registered, %.0f records/s\n", i + 1,
                   (i + 1) / std::chrono::duration<double>(SteadyClock::now() - start).count());
    }
  }
  const double seconds = std::chrono::duration<double>(SteadyClock::now() - start).count();
  if (!f.outcomes_out.empty()) {
    std::FILE* out = std::fopen(f.outcomes_out.c_str(), "w");
    if (out == nullptr) {
      std::fprintf(stderr, "hie-identity-accuracy: cannot write %s\n", f.outcomes_out.c_str());
      return 2;
    }
    std::fprintf(out, "record_id,generated_person,outcome,person\n");
    for (int64_t i = 0; i < n; ++i) {
      const hie::mpi::LabelledRecord& lr = population.records[static_cast<size_t>(i)];
      std::fprintf(out, "%s,%" PRId64 ",%s,%s\n", lr.record.record_id.c_str(), lr.person_id,
                   outcome_of[static_cast<size_t>(i)].c_str(),
                   person_of[static_cast<size_t>(i)].c_str());
    }
    std::fclose(out);
  }

  // Pairwise figures over the final clusters (persons) against the truth.
  absl::flat_hash_map<std::string, int64_t> cluster_size;
  absl::flat_hash_map<int64_t, int64_t> truth_size;
  absl::flat_hash_map<std::string, int64_t> both_size;         // person + '/' + truth
  absl::flat_hash_map<std::string, std::string> person_by_id;  // record_id -> person
  for (int64_t i = 0; i < n; ++i) {
    const hie::mpi::LabelledRecord& lr = population.records[static_cast<size_t>(i)];
    const std::string& person = person_of[static_cast<size_t>(i)];
    if (person.empty()) continue;
    ++cluster_size[person];
    ++truth_size[lr.person_id];
    ++both_size[person + "/" + std::to_string(lr.person_id)];
    person_by_id[lr.record.record_id] = person;
  }
  int64_t predicted = 0, truth = 0, correct = 0;
  for (const auto& [k, v] : cluster_size) predicted += Pairs(v);
  for (const auto& [k, v] : truth_size) truth += Pairs(v);
  for (const auto& [k, v] : both_size) correct += Pairs(v);

  // Review tasks: does each pair two records of one generated person?
  int64_t tasks = 0, tasks_true = 0;
  std::map<std::string, std::pair<int64_t, int64_t>> tasks_by_grade;  // grade -> (all, true)
  std::map<int, std::pair<int64_t, int64_t>> tasks_by_score;          // floor(score) -> same
  std::map<std::string, std::pair<int64_t, int64_t>> tasks_by_guard;  // guard kinds -> same
  auto count_task = [&](const v1::ReviewTask& t) {
    ++tasks;
    auto a = truth_of.find(hie::identity::RecordKey(t.left().source_id()));
    auto b = truth_of.find(hie::identity::RecordKey(t.right().source_id()));
    const bool same = a != truth_of.end() && b != truth_of.end() && a->second == b->second;
    tasks_true += same ? 1 : 0;
    auto& g = tasks_by_grade[v1::MatchGrade_Name(t.explanation().grade())];
    ++g.first;
    g.second += same ? 1 : 0;
    auto& s = tasks_by_score[static_cast<int>(std::floor(t.explanation().total_score()))];
    ++s.first;
    s.second += same ? 1 : 0;
    std::string guards;
    for (const v1::GuardResult& guard : t.explanation().guards()) {
      absl::StrAppend(&guards, guards.empty() ? "" : "+", v1::GuardResult::Kind_Name(guard.kind()));
    }
    auto& k = tasks_by_guard[guards.empty() ? "no guard" : guards];
    ++k.first;
    k.second += same ? 1 : 0;
  };
  for (const auto& [id, t] : store.Snapshot().tasks) count_task(t);

  // Hard pairs with both records registered.
  std::map<std::string, std::pair<int64_t, int64_t>> hard;  // kind -> (present, merged)
  int64_t shown = 0;
  for (const hie::mpi::HardNonMatchPair& p : population.hard_pairs) {
    auto a = person_by_id.find(p.record_id_a);
    auto b = person_by_id.find(p.record_id_b);
    if (a == person_by_id.end() || b == person_by_id.end()) continue;
    auto& h = hard[hie::mpi::HardNonMatchKindName(p.kind)];
    ++h.first;
    if (a->second != b->second) continue;
    ++h.second;
    if (shown++ >= f.show_merged) continue;
    // Synthetic data only: the record ids of the merged person, in registration order, with
    // the generated person and the outcome of each registration.
    std::fprintf(stderr, "merged %s pair %s %s into %s:", hie::mpi::HardNonMatchKindName(p.kind),
                 p.record_id_a.c_str(), p.record_id_b.c_str(), a->second.c_str());
    for (int64_t i = 0; i < n; ++i) {
      if (person_of[static_cast<size_t>(i)] != a->second) continue;
      const hie::mpi::LabelledRecord& lr = population.records[static_cast<size_t>(i)];
      std::fprintf(stderr, " %s(p%" PRId64 ",%s)", lr.record.record_id.c_str(), lr.person_id,
                   outcome_of[static_cast<size_t>(i)].c_str());
    }
    std::fprintf(stderr, "\n");
  }

  std::printf("== hie-identity-accuracy: %" PRId64 " records (seed %" PRIu64 "), model %s\n", n,
              f.seed, f.params.empty() ? "Model::DefaultParams()" : f.params.c_str());
  std::printf("registered %" PRId64 " in %.1f s = %.0f records/s (one thread), errors %" PRId64
              ", persons %zu (truth %zu)\n",
              n - errors, seconds, (n - errors) / seconds, errors, cluster_size.size(),
              truth_size.size());
  std::printf("outcomes: linked %.4f  new_person %.4f  review %.4f\n", Share(outcomes["linked"], n),
              Share(outcomes["new_person"], n), Share(outcomes["review"], n));
  std::printf("review share per tenth of the run:");
  for (auto& w : window) {
    int64_t total = 0;
    for (const auto& [k, v] : w) total += v;
    std::printf(" %.3f", Share(w["review"], total));
  }
  std::printf("\n");
  std::printf("auto links: pairwise precision %.5f recall %.5f (pairs linked %" PRId64
              ", true %" PRId64 ", correct %" PRId64 "); true pairs left unlinked %" PRId64 "\n",
              Share(correct, predicted), Share(correct, truth), predicted, truth, correct,
              truth - correct);
  std::printf("records whose person was registered before: %" PRId64 ": linked %" PRId64
              " (to the right person %" PRId64 "), review %" PRId64 ", new person %" PRId64
              "; first records of a person linked to another: %" PRId64 "\n",
              returning, returning_linked, returning_linked_right, returning_review, returning_new,
              first_linked);
  std::printf("review tasks: %" PRId64 " (%.3f per registration), true matches %" PRId64
              " (%.4f)\n",
              tasks, Share(tasks, n), tasks_true, Share(tasks_true, tasks));
  for (const auto& [grade, v] : tasks_by_grade) {
    std::printf("  %-22s %8" PRId64 " tasks, true matches %.4f\n", grade.c_str(), v.first,
                Share(v.second, v.first));
  }
  std::printf("  by score (bits): ");
  for (const auto& [score, v] : tasks_by_score) {
    std::printf(" [%d,%d) %" PRId64 "/%" PRId64, score, score + 1, v.second, v.first);
  }
  std::printf("  (true/all)\n");
  for (const auto& [guards, v] : tasks_by_guard) {
    std::printf("  %-40s %8" PRId64 " tasks, true matches %.4f\n", guards.c_str(), v.first,
                Share(v.second, v.first));
  }
  int64_t hard_present = 0, hard_merged = 0;
  std::printf("hard pairs merged:");
  for (const auto& [kind, v] : hard) {
    std::printf(" %s %" PRId64 "/%" PRId64, kind.c_str(), v.second, v.first);
    hard_present += v.first;
    hard_merged += v.second;
  }
  std::printf("; total %" PRId64 " of %" PRId64 "\n", hard_merged, hard_present);
  return errors == 0 ? 0 : 1;
}
