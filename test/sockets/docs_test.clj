(ns sockets.docs-test
  "The quality bar: every public var has a docstring, and every egg name in the reference is
  a var of sockets.core (or a keyword constant / dynamic var, per the naming rules)."
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

(def ^:private reference-file (java.io.File. "../shared/reference/socket-egg-api.md"))

(defn- reference-names []
  (let [ref (if (.exists reference-file) (slurp reference-file) "")]
    (distinct (for [[_ kind nm] (re-seq #"(?m)^\s+(procedure|constant|parameter|record): `\(?([^ `)]+)" ref)]
                [kind nm]))))

(defn- clojure-name [nm] (-> nm (str/replace "i/o" "io") (str/replace "/" "-")))

(deftest every-egg-name-exists
  (let [names (reference-names)]
    (if (empty? names)
      (println "SKIP every-egg-name-exists: no reference at" (.getPath reference-file) "(it lies beside the project in CI and in the main checkout)")
      (doseq [[kind nm] names]
        (case kind
          "constant" (let [kw (keyword nm)
                           kind (keyword (namespace kw))
                           kind (if (= :sol kind) :sol kind)]
                       (is (contains? (get c/tables kind) kw) (str nm " is not a known constant")))
          "parameter" (is (:dynamic (meta (ns-resolve 'sockets.core (symbol (str "*" nm "*"))))) (str nm " has no dynamic var"))
          "record" nil ; records are maps or Java classes, listed in the README
          "procedure" (is (ns-resolve 'sockets.core (symbol (clojure-name nm))) (str nm " is not in sockets.core")))))))

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
