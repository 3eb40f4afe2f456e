// The hnswlib side of bench/vector/run.sh: hnswlib's own C++ (Debian's
// libhnswlib-dev headers), compiled for this CPU, on the files the Go side
// writes (params.json, base.f32, queries.f32, truth.i32 in <out>).
//
//   hnswbench build <out> <ef,ef,...>   builds single-threaded (M=16,
//       ef_construction=200, seed 100, inner product on the unit vectors,
//       which is cosine), reading base.f32 in batches; measures recall@k and
//       single-thread queries per second at each ef (a warm-up pass, then
//       the fastest of three), saves the index (+ fsync) and writes
//       hnswlib-build.json
//   hnswbench load <out> <ef,ef,...>    loads the saved index in a fresh
//       process, times it until the first search answers, serves the
//       queries again and writes hnswlib-load.json
//
// Build: g++ -O3 -march=native -std=c++17 -o hnswbench bench/vector/hnswlib/hnswbench.cpp -lpthread
#include <hnswlib/hnswlib.h>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

const size_t kM = 16, kEfConstruction = 200, kSeed = 100;
const int kTimedRuns = 3;

void die(const std::string &msg) {
  fprintf(stderr, "hnswbench: %s\n", msg.c_str());
  exit(1);
}

std::string slurp(const std::string &path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) die("cannot read " + path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// param reads the integer "key" of params.json, which the Go side writes.
long param(const std::string &json, const std::string &key) {
  size_t at = json.find("\"" + key + "\":");
  if (at == std::string::npos) die("params.json has no " + key);
  return strtol(json.c_str() + at + key.size() + 3, nullptr, 10);
}

template <typename T>
std::vector<T> readAll(const std::string &path, size_t count) {
  std::string b = slurp(path);
  if (b.size() != count * sizeof(T)) die(path + " is not the size params.json says");
  std::vector<T> v(count);
  memcpy(v.data(), b.data(), b.size());
  return v;
}

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double cpu() {
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

// status reads a line of /proc/self/status ("VmRSS", "VmHWM"), in bytes.
long long status(const char *name) {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind(std::string(name) + ":", 0) == 0) return atoll(line.c_str() + strlen(name) + 1) * 1024;
  }
  return -1;
}

struct EfResult {
  int ef;
  double recall, qps, qpsCPU;  // qpsCPU: queries per CPU-second, what a busy machine moves least
};

struct Data {
  long n, dim, nq, k;
  std::vector<float> queries;
  std::vector<int32_t> truth;
};

Data load(const std::string &out) {
  std::string p = slurp(out + "/params.json");
  Data d;
  d.n = param(p, "n");
  d.dim = param(p, "dim");
  d.nq = param(p, "queries");
  d.k = param(p, "k");
  d.queries = readAll<float>(out + "/queries.f32", d.nq * d.dim);
  d.truth = readAll<int32_t>(out + "/truth.i32", d.nq * d.k);
  return d;
}

std::vector<int> parseEfs(const std::string &s) {
  std::vector<int> efs;
  std::stringstream ss(s);
  std::string part;
  while (std::getline(ss, part, ',')) efs.push_back(atoi(part.c_str()));
  return efs;
}

std::vector<hnswlib::labeltype> search(hnswlib::HierarchicalNSW<float> &index, const float *q, size_t k) {
  auto res = index.searchKnn(q, k);
  std::vector<hnswlib::labeltype> labels;
  while (!res.empty()) {
    labels.push_back(res.top().second);
    res.pop();
  }
  return labels;
}

EfResult measure(hnswlib::HierarchicalNSW<float> &index, const Data &d, int ef) {
  index.setEf(ef);
  std::vector<std::vector<hnswlib::labeltype>> labels(d.nq);
  for (long i = 0; i < d.nq; i++) labels[i] = search(index, &d.queries[i * d.dim], d.k);  // warm-up
  double best = 1e300, bestCPU = 1e300;
  for (int r = 0; r < kTimedRuns; r++) {
    double t = now(), c = cpu();
    for (long i = 0; i < d.nq; i++) labels[i] = search(index, &d.queries[i * d.dim], d.k);
    best = std::min(best, now() - t);
    bestCPU = std::min(bestCPU, cpu() - c);
  }
  long found = 0;
  for (long i = 0; i < d.nq; i++) {
    const int32_t *want = &d.truth[i * d.k];
    for (auto l : labels[i]) found += std::count(want, want + d.k, (int32_t)l) > 0;
  }
  return {ef, double(found) / double(d.nq * d.k), d.nq / best, d.nq / bestCPU};
}

std::string results(const std::vector<EfResult> &rs) {
  std::string s = "[";
  char buf[160];
  for (size_t i = 0; i < rs.size(); i++) {
    snprintf(buf, sizeof buf, "%s\n    {\"ef\": %d, \"recall\": %.6f, \"qps\": %.1f, \"qps_cpu\": %.1f}", i ? "," : "", rs[i].ef,
             rs[i].recall, rs[i].qps, rs[i].qpsCPU);
    s += buf;
  }
  return s + "\n  ]";
}

const char *simd() {
#if defined(USE_AVX512)
  if (AVX512Capable()) return "AVX-512";
#endif
#if defined(USE_AVX)
  if (AVXCapable()) return "AVX";
#endif
  return "SSE";
}

void writeFile(const std::string &path, const std::string &s) {
  std::ofstream f(path);
  f << s;
  if (!f) die("cannot write " + path);
}

int build(const std::string &out, const std::vector<int> &efs) {
  Data d = load(out);
  hnswlib::InnerProductSpace space(d.dim);
  hnswlib::HierarchicalNSW<float> index(&space, d.n, kM, kEfConstruction, kSeed);

  // Read base.f32 a batch at a time, as the Go side does, so that peak
  // RSS is the index's own.
  FILE *f = fopen((out + "/base.f32").c_str(), "rb");
  if (!f) die("cannot open base.f32");
  const long per = 1000;
  std::vector<float> batch(per * d.dim);
  double c0 = cpu(), t0 = now();
  for (long i = 0; i < d.n; i += per) {
    long c = std::min(per, d.n - i);
    if (fread(batch.data(), sizeof(float) * d.dim, c, f) != (size_t)c) die("short read of base.f32");
    for (long j = 0; j < c; j++) index.addPoint(&batch[j * d.dim], i + j);
  }
  double buildSecs = now() - t0, buildCPU = cpu() - c0;
  fclose(f);
  long long peak = status("VmHWM");
  fprintf(stderr, "hnswlib (%s): built %ld vectors in %.1fs (%.1f CPU-s), peak RSS %.0f MiB\n", simd(), d.n, buildSecs, buildCPU, peak / 1048576.0);

  std::vector<EfResult> rs;
  for (int ef : efs) {
    rs.push_back(measure(index, d, ef));
    fprintf(stderr, "hnswlib: ef=%-4d recall@%ld=%.4f  %.0f queries/s\n", ef, d.k, rs.back().recall, rs.back().qps);
  }
  long long serving = status("VmRSS");

  std::string path = out + "/hnswlib.bin";
  double t = now();
  index.saveIndex(path);
  int fd = open(path.c_str(), O_RDONLY);
  if (fd < 0 || fsync(fd) != 0) die("cannot fsync " + path);
  close(fd);
  double save = now() - t;
  struct stat st;
  stat(path.c_str(), &st);

  char buf[1024];
  snprintf(buf, sizeof buf,
           "{\n  \"simd\": \"%s\",\n  \"build_seconds\": %.3f,\n  \"build_cpu_seconds\": %.3f,\n  \"peak_rss_build_bytes\": %lld,\n"
           "  \"rss_serving_bytes\": %lld,\n  \"save_seconds\": %.3f,\n  \"disk_bytes\": %lld,\n  \"results\": ",
           simd(), buildSecs, buildCPU, peak, serving, save, (long long)st.st_size);
  writeFile(out + "/hnswlib-build.json", buf + results(rs) + "\n}\n");
  fprintf(stderr, "hnswlib: RSS serving %.0f MiB, saved in %.2fs, %.0f MB on disk\n", serving / 1048576.0, save, st.st_size / 1e6);
  return 0;
}

int loadCmd(const std::string &out, const std::vector<int> &efs) {
  Data d = load(out);
  hnswlib::InnerProductSpace space(d.dim);
  std::string path = out + "/hnswlib.bin";
  double t0 = now();
  hnswlib::HierarchicalNSW<float> index(&space, path, false, d.n);
  double loadSecs = now() - t0;
  index.setEf(64);
  search(index, &d.queries[0], d.k);
  double first = now() - t0;
  fprintf(stderr, "hnswlib: loaded in %.2fs, first search answered after %.2fs\n", loadSecs, first);

  std::vector<EfResult> rs;
  for (int ef : efs) {
    rs.push_back(measure(index, d, ef));
    fprintf(stderr, "hnswlib (loaded): ef=%-4d recall@%ld=%.4f  %.0f queries/s\n", ef, d.k, rs.back().recall, rs.back().qps);
  }
  long long serving = status("VmRSS"), peak = status("VmHWM");
  char buf[512];
  snprintf(buf, sizeof buf,
           "{\n  \"load_seconds\": %.3f,\n  \"first_search_seconds\": %.3f,\n  \"peak_rss_open_bytes\": %lld,\n"
           "  \"rss_serving_bytes\": %lld,\n  \"results\": ",
           loadSecs, first, peak, serving);
  writeFile(out + "/hnswlib-load.json", buf + results(rs) + "\n}\n");
  fprintf(stderr, "hnswlib: RSS serving %.0f MiB (peak %.0f MiB)\n", serving / 1048576.0, peak / 1048576.0);
  return 0;
}

}  // namespace

int main(int argc, char **argv) {
  if (argc != 4) die("usage: hnswbench build|load <out> <ef,ef,...>");
  std::string cmd = argv[1], out = argv[2];
  std::vector<int> efs = parseEfs(argv[3]);
  if (cmd == "build") return build(out, efs);
  if (cmd == "load") return loadCmd(out, efs);
  die("unknown command " + cmd);
}
