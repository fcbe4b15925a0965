(ns build
  "tools.build entry points for the deps.edn side of the project.

  `compile-java` (also the :deps/prep-lib step of deps.edn) compiles src/java into
  target/classes exactly as `lein javac` does with project.clj, and throws when javac
  fails (an error, or any warning: -Werror). `clean` deletes target.

    clojure -T:build compile-java
    clojure -T:build clean

  The data below is checked against project.clj by .ci/deps-check.clj: keep it as
  plain literals."
  (:require [clojure.tools.build.api :as b]))

(def java-source-paths
  "project.clj :java-source-paths."
  ["src/java"])

(def javac-options
  "project.clj :javac-options."
  ["--release" "17" "-Xlint:all,-serial,-processing,-options" "-Werror"])

(def class-dir
  "Where lein javac writes classes too (deps.edn :paths has it)."
  "target/classes")

(defn clean
  "Deletes target. Returns nil."
  [_]
  (b/delete {:path "target"}))

(defn compile-java
  "Compiles the Java sources into target/classes on the classpath of deps.edn's
  :deps. Returns nil; throws ex-info \"Java compilation failed\" when javac fails."
  [_]
  (b/javac {:src-dirs java-source-paths
            :class-dir class-dir
            :basis (b/create-basis {:project "deps.edn"})
            :javac-opts javac-options})
  (println "compile-java: compiled" (pr-str java-source-paths) "into" class-dir))
