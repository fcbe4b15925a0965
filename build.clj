(ns build
  "tools.build entry points for the deps.edn side of the project: `compile-java`
  (also the :deps/prep-lib step) compiles src/java into target/classes and throws
  when javac fails."
  (:require [clojure.tools.build.api :as b]))

(def ^:private basis (delay (b/create-basis {:project "deps.edn"})))

(defn compile-java
  "Compiles src/java into target/classes with --release 17. Throws when javac fails."
  [_]
  (b/javac {:src-dirs ["src/java"]
            :class-dir "target/classes"
            :basis @basis
            :javac-opts ["--release" "17" "-Xlint:all,-serial,-processing,-options" "-Werror"]}))
