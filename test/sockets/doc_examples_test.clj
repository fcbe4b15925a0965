(ns sockets.doc-examples-test
  "Every example in README.md and doc/*.md runs as pasted, in order, in one fresh REPL per page.

  For each page, the ```clojure blocks are read in order and every form is evaluated in ONE
  fresh namespace (as a REPL would: `(require ...)` and `(def ...)` forms included, `*1` `*2`
  `*3` `*e` set after each form), one form at a time (so a form may use an alias an earlier
  form made). Where a form is followed by a `;=> text` comment (at the end of the form's last
  line, or alone on the next line), what a REPL prints for its value (`pr-str` with
  `*print-namespace-maps*` true, as clojure.main's REPL binds it) must equal `text`, after
  trimming. A result that varies (a port, an fd number, a byte count the kernel picks) is
  shown as `;; e.g. text` and not checked.

  Blocks opened with ```clojure no-run are shown, not run: only for examples that need another
  process or host (a second terminal, a remote name server). ```sh, ```java and other blocks
  are never run here (the CLI and the Java example have their own tests).

  A page stops at its first form that throws (the forms after it would not run in a REPL
  either), and fails. Each page must also leave no fd open: the count of open fds after it,
  allowed 2 s to settle, is at most the count before it."
  (:require [clojure.java.io :as io]
            [clojure.string :as str]
            [clojure.test :refer [deftest is testing use-fixtures]]
            [sockets.core :as s]
            [sockets.test-util :as u])
  (:import (clojure.lang LineNumberingPushbackReader)
           (java.io File StringReader)))

(set! *warn-on-reflection* true)

;; ------------------------------------------------------------------ reading a page

(defn code-blocks
  "The fenced code blocks of markdown `text`, in order: [{:lang \"clojure\" :info \"clojure
  no-run\" :line n :code text}], :line the 1-based line of the block's first code line."
  [text]
  (loop [[l & more :as lines] (str/split-lines text) n 1 open nil out []]
    (cond
      (empty? lines) out
      (and (nil? open) (re-matches #"\s*```\s*(\S+)?(.*)" l))
      (let [[_ lang rest] (re-matches #"\s*```\s*(\S+)?(.*)" l)]
        (recur more (inc n) {:lang (or lang "") :info (str/trim (str lang rest)) :line (inc n) :code []} out))
      (and open (re-matches #"\s*```\s*" l))
      (recur more (inc n) nil (conj out (update open :code #(str/join "\n" %))))
      open (recur more (inc n) (update open :code conj l) out)
      :else (recur more (inc n) nil out))))

(defn runnable?
  "True for a block this runner evaluates: ```clojure, not marked no-run."
  [{:keys [lang info]}]
  (and (= "clojure" lang) (not (re-find #"\bno-run\b" info))))

(defn- expectation
  "The `;=>` text for a form ending at 1-based line `line`, column `col` (the column after
  its last character) of `lines`: on the rest of that line, or alone on the next one."
  [lines line col]
  (let [rest-of-line (let [l (get lines (dec line) "")] (subs l (min (count l) (max 0 (dec col)))))
        next-line (str/trim (get lines line ""))
        from (fn [^String t] (when (str/starts-with? t ";=>") (str/trim (subs t 3))))]
    (or (from (str/trim rest-of-line))
        (when (str/blank? rest-of-line) (from next-line)))))

(defn repl-print
  "What clojure.main's REPL prints for `v` (its printer binds *print-namespace-maps* true)."
  [v]
  (binding [*print-namespace-maps* true *print-length* nil *print-level* nil]
    (pr-str v)))

;; ------------------------------------------------------------------ running a page

(defn- run-block
  "Evaluates the forms of `block` in namespace `ns-obj`; returns [results ok?]: one result
  {:line :form :expected :value :printed :error} per form (:printed only where a `;=>` is
  expected), stopping at the first form that throws."
  [ns-obj {:keys [code line]}]
  (let [lines (str/split-lines code)
        r (LineNumberingPushbackReader. (StringReader. code))
        eof (Object.)]
    (loop [out []]
      (let [start (.getLineNumber r)
            [form err] (try [(binding [*ns* ns-obj] (read {:eof eof :read-cond :allow} r)) nil]
                            (catch Throwable t [nil t]))]
        (cond
          err [(conj out {:line (+ line start -1) :error err}) false]
          (identical? eof form) [out true]
          :else
          (let [end (.getLineNumber r)
                expected (expectation lines end (.getColumnNumber r))
                res (binding [*ns* ns-obj]
                      (try {:value (eval form)} (catch Throwable t {:error t})))
                result {:line (+ line end -1) :form form :expected expected}]
            (if-let [e (:error res)]
              (do (set! *e e) [(conj out (assoc result :error e)) false])
              (let [v (:value res)]
                (set! *3 *2) (set! *2 *1) (set! *1 v)
                (recur (conj out (cond-> (assoc result :value v) expected (assoc :printed (repl-print v)))))))))))))

(defn run-page
  "Runs every runnable block of markdown `text` in order in one fresh namespace (removed
  afterwards); returns one result per form evaluated (see `run-block`), the last one with
  :error when a form threw."
  [text]
  (let [ns-sym (gensym "doc-page-")
        ns-obj (create-ns ns-sym)]
    (try
      (binding [*ns* ns-obj *1 nil *2 nil *3 nil *e nil
                *warn-on-reflection* false *unchecked-math* false]
        (refer-clojure)
        (loop [[b & more] (filter runnable? (code-blocks text)) out []]
          (if-not b
            out
            (let [[rs ok?] (run-block ns-obj b)
                  out (into out rs)]
              (if ok? (recur more out) out)))))
      (finally (remove-ns ns-sym)))))

(defn failures
  "The results of `run-page` that fail, as messages: a form that threw, or one whose printed
  value is not its `;=>` text."
  [page results]
  (for [{:keys [line form expected printed error]} results
        :when (or error (and expected (not= expected printed)))]
    (if error
      (let [e (if (instance? clojure.lang.Compiler$CompilerException error) (or (ex-cause error) error) error)]
        (str page ":" line ": " (pr-str form) " threw " (.getName (class e)) ": " (ex-message e)
             (when-let [d (ex-data e)] (str " " (pr-str d)))))
      (str page ":" line ": " (pr-str form) "\n  expected: " expected "\n  printed:  " printed))))

;; ------------------------------------------------------------------ the pages

(defn pages
  "README.md and every doc/*.md, as paths relative to the project root, in a fixed order."
  []
  (into ["README.md"]
        (sort (for [^File f (.listFiles (io/file "doc"))
                    :when (str/ends-with? (.getName f) ".md")]
                (str "doc/" (.getName f))))))

(defn- warm-up!
  "Opens the fds the JVM keeps for good once used, before any baseline: the shared event
  loop's epoll and eventfd, and glibc's resolver socket."
  []
  (.execute (sockets.EventLoop/shared) ^Runnable (fn []))
  (s/address-information "localhost" 80))

(defn run-counting-fds
  "Runs markdown `text` as `run-page` does; returns {:results :before :after}, the fd
  snapshots (`u/fd-targets`) before and after it, the latter allowed 2 s to settle."
  [text]
  (warm-up!)
  (let [before (u/fd-targets)
        results (run-page text)]
    {:results results :before before :after (u/settled-fd-targets before 2000)}))

(defn check-page
  "Runs page `path` and asserts that every form ran, printed its `;=> text`, and that the page
  left no fd open. Returns the results."
  [path]
  (let [{:keys [results before after]} (run-counting-fds (slurp path))]
    (testing path
      (let [fs (failures path results)]
        (is (empty? fs) (str/join "\n" fs)))
      (is (<= (count after) (count before)) (str path " left fds open: " (u/leak-message before after))))
    results))

(use-fixtures :once (fn [f] (warm-up!) (u/fd-fixture f)))

(deftest every-page-runs-as-pasted
  (doseq [p (pages)]
    (check-page p)))

;; ------------------------------------------------------------------ the runner itself

(deftest the-runner-catches-what-it-should
  (let [page (str "# t\n```clojure\n(def x 41)\n(inc x) ;=> 42\n(inc x) ;=> 43\n(str \"a\"\n  \"b\")\n;=> \"ab\"\n"
                  "{:so/a 1} ;=> #:so{:a 1}\n(rand-int 9) ;; e.g. 4\n```\n"
                  "```clojure no-run\n(throw (ex-info \"not run\" {}))\n```\n"
                  "```sh\nrm -rf /\n```\n"
                  "```clojure\n(require '[clojure.string :as cs])\n(cs/upper-case \"x\") ;=> \"X\"\n*1 ;=> \"X\"\n"
                  "(/ 1 0)\n(inc x) ;=> 42\n```\n")
        results (run-page page)
        fs (failures "t.md" results)]
    (is (= 2 (count fs)) (pr-str fs))
    (is (str/includes? (first fs) "t.md:5:") "the wrong ;=> 43 is caught, with its line")
    (is (str/includes? (second fs) "ArithmeticException") "a form that throws fails the page")
    (is (= "t.md:22:" (re-find #"t\.md:\d+:" (second fs))))
    (is (= [10 '(/ 1 0)] [(count results) (:form (last results))]) "nothing runs after a form that throws")
    (is (= "#:so{:a 1}" (:printed (nth results 4))) "printed as the REPL prints namespaced maps")
    (is (nil? (:expected (nth results 5))) ";; e.g. is not checked")))

(deftest the-runner-sees-a-page-that-leaves-a-socket-open
  (let [{:keys [results before after]}
        (run-counting-fds "```clojure\n(require '[sockets.core :as s])\n(s/socket :af/inet :sock/stream)\n```\n")
        leaked (:value (last results))]
    (try
      (is (s/socket? leaked))
      (is (> (count after) (count before)) "the open socket is counted")
      (finally (s/socket-close* leaked)))))
