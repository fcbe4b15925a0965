(ns sockets.readme-test
  "The README: short, linking every doc page, its quick start closing what it opens, and the
  property-testing example (wherever it lives) catching the naive reader. Running every
  example of every page is sockets.doc-examples-test."
  (:require [clojure.java.io :as io]
            [clojure.string :as str]
            [clojure.test :refer [deftest is use-fixtures]]
            [sockets.doc-examples-test :as dx]
            [sockets.test-util :as u]))

(set! *warn-on-reflection* true)

(use-fixtures :once u/fd-fixture)

(def ^:private readme "README.md")

(deftest readme-is-short
  (let [n (count (slurp readme))]
    (is (< n 16000) (str readme " has " n " characters; move detail to doc/ (the limit is 16000)"))))

(deftest readme-keeps-the-set-up-commands
  ;; a CI hook greps the README for these two
  (let [text (slurp readme)]
    (is (str/includes? text "lein run"))
    (is (str/includes? text "lein test"))))

(deftest every-doc-page-is-linked-from-the-readme
  (let [text (slurp readme)
        pages (rest (dx/pages))]
    (is (seq pages) "doc/ has pages")
    (doseq [p pages]
      (is (str/includes? text (str "](" p ")")) (str p " is not linked from " readme)))))

(defn- block-with
  "The first runnable block of `text` whose code includes `marker`, or nil."
  [text marker]
  (first (filter #(and (dx/runnable? %) (str/includes? (:code %) marker)) (dx/code-blocks text))))

(defn- as-page [& blocks]
  (str/join "\n" (for [b blocks] (str "```clojure\n" b "\n```\n"))))

(deftest quick-start-closes-its-sockets
  (u/with-fd-check
    (let [block (block-with (slurp readme) ";; example: quick start")
          results (dx/run-page (as-page (:code block)
                                        "(.isClosed ^sockets.Socket c) ;=> true\n(.isClosed ^sockets.Socket l) ;=> true"))]
      (is block "README.md has a block marked ;; example: quick start")
      (is (empty? (dx/failures "README.md quick start" results)) (str/join "\n" (dx/failures "README.md quick start" results)))
      (is (= [true true] (map :value (take-last 2 results))) "the example closes both its sockets"))))

(deftest property-testing-example-catches-the-naive-reader
  ;; The example lives in doc/property-testing.md (or the README); wherever it is, its page
  ;; is run whole and some form must give (or def) test.check's result: failed, shrunk to few
  ;; chunks.
  (let [page (first (filter #(and (.exists (io/file %)) (block-with (slurp %) "naive-read-message"))
                            (dx/pages)))]
    (is page "doc/property-testing.md (or the README) has the naive-reader example")
    (when page
      (let [results (dx/run-page (slurp page))
            qc (last (filter #(and (map? %) (contains? % :pass?) (contains? % :shrunk))
                             (map (comp #(if (var? %) @% %) :value) results)))]
        (is (empty? (dx/failures page results)) (str/join "\n" (dx/failures page results)))
        (is qc (str page ": no form gave a test.check result"))
        (when qc
          (is (false? (:pass? qc)) "the naive reader is caught")
          (is (<= (count (first (get-in qc [:shrunk :smallest]))) 3) (pr-str (:shrunk qc))))))))
