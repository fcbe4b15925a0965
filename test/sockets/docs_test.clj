(ns sockets.docs-test
  "The quality bar: every public var has a docstring, and every egg name in the naming table
  (doc/naming.md) is a var of sockets.core (or a keyword constant / dynamic var, per the
  naming rules)."
  (:require [clojure.string :as str]
            [clojure.test :refer [deftest is use-fixtures]]
            [sockets.test-util :as u]
            [sockets.constants :as c]
            [sockets.core]))

(use-fixtures :once u/fd-fixture)

(def ^:private namespaces
  '[sockets.core sockets.address sockets.constants sockets.options sockets.io sockets.async
    sockets.gen sockets.proxy sockets.specs sockets.tour sockets.cli sockets.messages sockets.datagrams sockets.platform
    sockets.impl.cmsg sockets.impl.args])

(deftest every-public-var-has-a-docstring
  (doseq [n namespaces]
    (require n)
    (doseq [[sym v] (ns-publics n)
            :when (not (:private (meta v)))]
      (is (not (str/blank? (:doc (meta v)))) (str n "/" sym " has no docstring")))))

(def ^:private naming-table
  "The egg naming table: the reference the next test checks (kept in the repository, not
  beside it, so a fresh clone checks it too)."
  "doc/naming.md")

(defn- egg-rows
  "[{:egg name :kinds #{...} :clojure [names in backticks of the Clojure column]}] for every
  row of the egg table in doc/naming.md (`| egg | kind | Clojure | Java | status |`)."
  []
  (for [line (str/split-lines (slurp naming-table))
        :let [[_ egg kinds clj] (re-matches #"\|\s*`([^`]+)`\s*\|\s*((?:procedure|constant|parameter|record)(?:,\s*(?:procedure|constant|parameter|record))*)\s*\|([^|]*)\|.*" line)]
        :when egg]
    {:egg egg
     :kinds (set (map str/trim (str/split kinds #",")))
     :clojure (vec (mapcat #(map str/trim (str/split % #"/ "))
                           (map second (re-seq #"`([^`]+)`" clj))))}))

(defn- clojure-name [nm] (-> nm (str/replace "i/o" "io") (str/replace "/" "-")))

(deftest every-egg-name-exists
  (let [rows (egg-rows)]
    (is (= 153 (count rows)) (str naming-table " lists " (count rows) " egg names, the egg has 153"))
    (is (= (count rows) (count (distinct (map :egg rows)))) "each egg name is listed once")
    (doseq [{:keys [egg kinds clojure]} rows]
      (when (kinds "procedure")
        (is (some #{(clojure-name egg)} clojure) (str egg ": the Clojure column does not name " (clojure-name egg)))
        (doseq [nm clojure :when (not (or (str/includes? nm ".") (str/starts-with? nm "(")))]
          (is (ns-resolve 'sockets.core (symbol nm)) (str egg ": " nm " is not in sockets.core"))))
      (when (kinds "constant")
        (let [kw (keyword egg)]
          (is (= [(str kw)] clojure) (str egg ": the Clojure column should be " kw))
          (is (contains? (get c/tables (keyword (namespace kw))) kw) (str egg " is not a known constant"))))
      (when (kinds "parameter")
        (let [nm (str "*" egg "*")]
          (is (= [nm] clojure) (str egg ": the Clojure column should be " nm))
          (is (:dynamic (meta (ns-resolve 'sockets.core (symbol nm)))) (str egg " has no dynamic var")))))))

(deftest every-public-java-member-has-javadoc
  ;; javadoc's own check (-Xdoclint:missing) over src/java: "no comment" is a public or
  ;; protected member (or a serialized field) without a javadoc comment.
  (if-let [tool (javax.tools.ToolProvider/getSystemDocumentationTool)]
    (u/with-temp-dir [dir]
      (let [out (java.io.ByteArrayOutputStream.)
            args ["-quiet" "-Xdoclint:missing" "-Xmaxwarns" "100000" "-d" (.getPath ^java.io.File dir)
                  "-cp" (System/getProperty "java.class.path") "-sourcepath" "src/java"
                  "-subpackages" "sockets"]
            rc (.run tool nil out out (into-array String args))
            missing (filter #(str/includes? % "warning: no comment") (str/split-lines (str out)))]
        (is (zero? rc) (str "javadoc failed:\n" out))
        (is (empty? missing) (str "Java members without javadoc:\n" (str/join "\n" missing)))))
    (println "SKIP every-public-java-member-has-javadoc: this JDK has no javadoc tool")))
