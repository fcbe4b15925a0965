(ns sockets.fuzz-test
  "Cross-cutting: every public function of every library namespace, called with wrong types,
  extreme integers, huge, empty and unencodable strings, bad buffers, closed sockets and
  non-socket fds, lets only `sockets.SocketException` escape (or ArityException), and leaks no
  fd. The huge integers (sizes a call might allocate) run in a child JVM with a 128 MiB heap."
  (:require [clojure.java.io :as io]
            [clojure.string :as str]
            [clojure.test :refer [deftest is testing use-fixtures]]
            [sockets.address]
            [sockets.async]
            [sockets.constants]
            [sockets.core :as s]
            [sockets.datagrams]
            [sockets.gen]
            [sockets.impl.args]
            [sockets.impl.cmsg]
            [sockets.impl.option-codec]
            [sockets.impl.option-specs]
            [sockets.io]
            [sockets.messages]
            [sockets.options]
            [sockets.platform]
            [sockets.proxy]
            [sockets.specs]
            [sockets.test-util :as u])
  (:import (java.io Closeable File)
           (java.nio ByteBuffer)
           (java.util Random)
           (java.util.concurrent TimeUnit TimeoutException)
           (sockets SocketException)))

(set! *warn-on-reflection* true)

(use-fixtures :once u/fd-fixture)

(def ^:private excluded-namespaces
  "Not library API: the CLI, the tour and its helper, the bench."
  #{'sockets.cli 'sockets.tour 'sockets.impl.io-tour 'sockets.bench})

(defn- internal?
  "sockets.impl.* namespaces are not API (^:no-doc): their functions take values the API
  layer has already checked (sockets.impl.args is that layer), so they are reached through
  the public functions that call them."
  [n]
  (str/starts-with? (str n) "sockets.impl."))

(def ^:private not-called
  "Vars not called, and why."
  '{sockets.specs/instrument "switches spec instrumentation on for every later test"
    sockets.specs/unstrument "its pair"})

(defn library-namespaces
  "The loaded sockets.* library namespaces (tests, children and the excluded ones left out)."
  []
  (->> (all-ns) (map ns-name)
       (filter #(str/starts-with? (str %) "sockets."))
       (remove #(or (str/ends-with? (str %) "-test") (= 'sockets.test-util %)
                    (str/starts-with? (str %) "sockets.child.") (excluded-namespaces %) (internal? %)))
       sort))

(defn- callable-vars []
  (for [n (library-namespaces)
        [sym v] (sort-by key (ns-publics n))
        :let [m (meta v) q (symbol (str n) (str sym))]
        :when (and (not (:macro m)) (not (:dynamic m)) (fn? @v) (not (contains? not-called q)))]
    [q v]))

(defn- arities
  "The argument counts to call `v` with, from its :arglists (a variadic one also with one extra)."
  [v]
  (let [als (:arglists (meta v))]
    (if (seq als)
      (distinct (mapcat (fn [al] (let [fixed (count (take-while #(not= '& %) al))]
                                   (if (some #{'&} al) [fixed (inc fixed)] [fixed])))
                        als))
      [1])))

;; ------------------------------------------------------------------ the values

(def ^:private huge-string (apply str (repeat (* 1024 1024) \a)))

(defn- pipe-fds []
  (let [fds (int-array 2)]
    (.pipe (u/posix) fds)
    (vec fds)))

(defn- free-fd
  "An fd number that is not open."
  []
  (loop [n 1000] (if (.exists (File. (str "/proc/self/fd/" n))) (recur (inc n)) n)))

(defn bad-values
  "The values every argument is tried with: wrong types, small extreme integers, strings,
  bad buffers and maps, a closed socket, a pipe's fd and an fd number that is not open; with
  `huge?` also Integer/MAX_VALUE, Long/MAX_VALUE and 2^70 (sizes that would exhaust a heap)."
  [closed pipe-fd not-open huge?]
  (cond-> [nil true 1.5 -1 0 Long/MIN_VALUE (bigint -1) 65536
           "" huge-string "x\uD800" "127.0.0.1"
           (byte-array 0) (.asReadOnlyBuffer (ByteBuffer/allocate 4)) (ByteBuffer/allocate 0)
           :bogus :af/inet :msg/bogus {} {:timeout-ms -1} {:bogus 1} {:timeout 5}
           {:family :af/unix :path "x\uD800"} {:family :af/inet :address "1.2.3.4" :port -1}
           [] [nil] [1 2] #{:msg/bogus} (Object.)
           closed pipe-fd not-open]
    huge? (into [Integer/MAX_VALUE Long/MAX_VALUE (* 1024 1024 1024) 1180591620717411303424N])))

(defn- guard-ok?
  "False for calls the fuzz must not make: name lookups that would leave loopback (a
  non-numeric node goes to DNS), and adopting the process's own stdio fds."
  [q args]
  (case q
    sockets.address/address-information (let [node (first args)] (or (not (string? node)) (= "127.0.0.1" node)))
    sockets.core/address-information (let [node (first args)] (or (not (string? node)) (= "127.0.0.1" node)))
    (sockets.core/fd->socket) (not (and (integer? (first args)) (<= 0 (first args) 2)))
    sockets.async/stop-loop! (seq args)
    true))

(defn- tuples
  "Argument vectors of length n: each value in every position at once, then `k` random mixes."
  [^Random rnd vals n k]
  (let [vals (vec vals)]
    (if (zero? n)
      [[]]
      (concat (for [v vals] (vec (repeat n v)))
              (repeatedly k (fn [] (vec (repeatedly n #(nth vals (.nextInt rnd (count vals)))))))))))

(defn- release!
  "Closes what a call returned that holds resources (sockets, proxies), at any depth of a
  vector or map."
  [x]
  (cond (instance? Closeable x) (try (.close ^Closeable x) (catch Exception _))
        (or (sequential? x) (set? x)) (run! release! (take 16 x))
        (map? x) (run! release! (take 16 (vals x)))
        :else nil))

(defn- show [args]
  (binding [*print-length* 4 *print-level* 2]
    (let [t (pr-str (mapv #(if (and (string? %) (> (count %) 20)) (str (subs % 0 10) "...(" (count %) ")") %) args))]
      (if (> (count t) 160) (str (subs t 0 160) "...") t))))

(defn fuzz
  "Calls every callable library var with the bad values; returns the findings, a vector of
  {:var :args :error} for every exception other than SocketException/ArityException and every
  call still running after 5 s. Stops starting calls after `budget-ms`."
  [huge? k budget-ms]
  (let [rnd (Random. 17)
        closed (doto (s/socket :af/inet :sock/stream) s/socket-close)
        [pr pw] (pipe-fds)
        vals (bad-values closed pr (free-fd) huge?)
        deadline (+ (System/currentTimeMillis) budget-ms)
        findings (atom [])]
    (try
      ;; shuffled, so that a budget that runs out leaves a sample of every namespace
      (doseq [[q v args] (let [calls (java.util.ArrayList.
                                      ^java.util.Collection (vec (for [[q v] (callable-vars)
                                                                       n (arities v)
                                                                       args (tuples rnd vals n k)
                                                                       :when (guard-ok? q args)]
                                                                   [q v args])))]
                           (java.util.Collections/shuffle calls rnd)
                           calls)
              :while (< (System/currentTimeMillis) deadline)]
        (let [f (future
                  (try (release! (apply @v args)) nil
                       (catch SocketException _ nil)
                       (catch clojure.lang.ArityException _ nil)
                       (catch Throwable t t)))
              r (try (deref f 5000 ::hung) (catch Throwable t t))]
          (when (= ::hung r) (future-cancel f))
          (when r
            (swap! findings conj {:var q :args (show args)
                                  :error (if (= ::hung r) "still running after 5 s"
                                             (str (.getName (class r)) ": " (some-> (ex-message r) (subs 0 (min 120 (count (ex-message r)))))))}))))
      (finally
        (.close (u/posix) (int pr))
        (.close (u/posix) (int pw))))
    @findings))

(defn- summarize
  "One line per var: the var, how many calls failed, and the first failure."
  [findings]
  (->> findings (group-by :var)
       (map (fn [[q fs]] (str q " x" (count fs) ": " (:args (first fs)) " -> " (:error (first fs)))))
       sort))

(deftest only-socket-exceptions-escape
  (let [before (u/fd-targets)
        t0 (System/currentTimeMillis)
        findings (fuzz false 2 8000)
        ms (- (System/currentTimeMillis) t0)
        ours findings]
    (println (str "fuzz: " (count (callable-vars)) " vars of " (count (library-namespaces)) " namespaces in " ms " ms, "
                  (count (distinct (map :var findings))) " vars with findings"))
    (is (empty? ours) (str "non-library exceptions:\n" (str/join "\n" (summarize ours))))
    (sockets.async/stop-loop!)                ; the shared event loop some calls started (recreated on use)
    (let [after (u/settled-fd-targets before 5000)]
      (is (<= (count after) (count before)) (u/leak-message before after)))))

;; ------------------------------------------------------------------ the child JVM: huge sizes

(defn- run-child [jvm-opts script] (u/run-child nil jvm-opts script))

(defn- child-edn [{:keys [out]}]
  (some-> (last (remove str/blank? (str/split-lines out))) read-string))

(deftest huge-sizes-are-refused-before-allocation
  ;; 17.1: each of these allocated the caller's size first (OutOfMemoryError at -Xmx128m)
  (let [r (run-child ["-Xmx128m"] "heap.clj")
        d (child-edn r)]
    (is (= 0 (:exit r)) (:err r))
    (is (seq d) (:out r))
    (doseq [[label kind] d]
      (is (= :invalid kind) label))))

(deftest ^:slow huge-values-everywhere
  ;; the whole fuzz again with the huge integers, in a child with a 128 MiB heap
  (let [r (run-child ["-Xmx128m"] "fuzz.clj")
        d (child-edn r)]
    (is (= 0 (:exit r)) (:err r))
    (is (vector? d) (:out r))
    (is (empty? d)
        (str/join "\n" (summarize d)))))
