;; Fails (exit 1) when deps.edn / build.clj drift from project.clj, the source of truth.
;; Run from the project root on any classpath with Clojure:
;;   java -cp clojure.jar:... clojure.main .ci/deps-check.clj
;; Checked: :dependencies = deps.edn :deps (classifier "native" <-> lib$native, :exclusions),
;; :source-paths/:resource-paths + target/classes = :paths, :test-paths = :test :extra-paths,
;; :profiles :dev :source-paths = :dev :extra-paths, the profile of a `with-profile +p run -m`
;; alias: :source-paths = the alias's :extra-paths and :dependencies = its :extra-deps,
;; :java-source-paths and :javac-options = build.clj's literals, :jvm-opts = :jvm-opts of :test/:run/:bench, :main and the "run -m"
;; lein aliases = :main-opts of deps.edn aliases, and the :default test selector that
;; .ci/test-runner.clj applies.
(ns deps-check
  (:require [clojure.edn :as edn]
            [clojure.java.io :as io]))

(set! *warn-on-reflection* true)

(defn- read-all
  "Returns every top-level form of file f, read as data (*read-eval* off)."
  [f]
  (with-open [r (java.io.PushbackReader. (io/reader f))]
    (binding [*read-eval* false]
      (into [] (take-while #(not= ::eof %))
            (repeatedly #(read {:eof ::eof :read-cond :allow} r))))))

(defn- project
  "Returns project.clj's defproject as a map, with :name and :version."
  []
  (let [form (first (filter #(and (seq? %) (= 'defproject (first %))) (read-all "project.clj")))
        [_ nm version & kvs] form]
    (when-not form (throw (ex-info "project.clj has no defproject" {})))
    (assoc (apply hash-map kvs) :name nm :version version)))

(defn- build-defs
  "Returns {sym value} of build.clj's top-level (def sym [doc] value) forms."
  []
  (into {} (for [form (read-all "build.clj")
                 :when (and (seq? form) (= 'def (first form)))]
             [(second form) (last form)])))

(defn- qualify
  "lein's `foo` means foo/foo; tools.deps wants the qualified symbol."
  [sym]
  (if (namespace sym) sym (symbol (name sym) (name sym))))

(defn- lein-dep->deps
  "[lib version & opts] -> [lib-sym {:mvn/version v, :exclusions [...]}] as deps.edn spells it."
  [[lib version & opts :as dep]]
  (let [{:keys [classifier exclusions] :as opts} (apply hash-map opts)
        unknown (dissoc opts :classifier :exclusions)
        lib (qualify lib)]
    (when (seq unknown)
      (throw (ex-info (str "deps-check does not know how to map " (pr-str unknown) " in " (pr-str dep)
                           "; extend .ci/deps-check.clj") {:dep dep})))
    [(if classifier (symbol (namespace lib) (str (name lib) "$" classifier)) lib)
     (cond-> {:mvn/version version}
       (seq exclusions) (assoc :exclusions (mapv #(qualify (if (vector? %) (first %) %)) exclusions)))]))

(defn- deps-coord
  [[lib coord]]
  [(qualify lib) (cond-> (select-keys coord [:mvn/version :exclusions])
                   (:exclusions coord) (update :exclusions #(mapv qualify %)))])

(def ^:private failures (atom 0))

(defn- check
  "Prints OK or DRIFT for one comparison; counts drift."
  [what project-clj deps-side]
  (if (= project-clj deps-side)
    (println "  OK   " what)
    (do (swap! failures inc)
        (println "  DRIFT" what)
        (println "        project.clj:" (pr-str project-clj))
        (println "        deps side:  " (pr-str deps-side)))))

(defn -main []
  (set! *print-namespace-maps* false)
  (let [p (project)
        d (edn/read-string (slurp "deps.edn"))
        b (build-defs)
        alias (fn [k] (get-in d [:aliases k]))
        jvm-opts (vec (:jvm-opts p))
        lein-deps (into {} (map lein-dep->deps) (:dependencies p))
        edn-deps (into {} (map deps-coord) (:deps d))]
    (println "project.clj" (:name p) (:version p) "vs deps.edn + build.clj")
    (when-not (= (count (:dependencies p)) (count lein-deps))
      (swap! failures inc)
      (println "  DRIFT project.clj :dependencies lists a lib twice (same classifier)"))
    (doseq [lib (sort-by str (distinct (concat (keys lein-deps) (keys edn-deps))))]
      (check (str ":dependencies " lib) (get lein-deps lib) (get edn-deps lib)))
    (check ":source-paths + :resource-paths + target/classes = deps.edn :paths"
           (vec (concat (:source-paths p ["src"]) (:resource-paths p ["resources"]) [(get b 'class-dir)]))
           (:paths d))
    (check ":compile-path = build.clj class-dir" (:compile-path p "target/classes") (get b 'class-dir))
    (check ":test-paths = deps.edn :test :extra-paths" (:test-paths p ["test"]) (:extra-paths (alias :test)))
    (check ":profiles :dev :source-paths = deps.edn :dev :extra-paths"
           (get-in p [:profiles :dev :source-paths]) (:extra-paths (alias :dev)))
    (check ":java-source-paths = build.clj java-source-paths" (:java-source-paths p) (get b 'java-source-paths))
    (check ":javac-options = build.clj javac-options" (:javac-options p) (get b 'javac-options))
    (check "deps.edn :deps/prep-lib runs build/compile-java into target/classes"
           {:alias :build :fn 'compile-java :ensure (get b 'class-dir)} (:deps/prep-lib d))
    (check ":main = deps.edn :run :main-opts" ["-m" (str (:main p))] (:main-opts (alias :run)))
    (doseq [[nm cmd] (sort-by key (:aliases p))]
      (let [[prof cmd] (if (= "with-profile" (first cmd)) [(second cmd) (drop 2 cmd)] [nil cmd])]
        (if (and (= "run" (first cmd)) (= "-m" (second cmd)))
          (do (check (str ":aliases " (pr-str nm) " = deps.edn " (keyword nm) " :main-opts")
                     (vec (rest cmd)) (:main-opts (alias (keyword nm))))
              (when prof
                (let [profile (get-in p [:profiles (keyword (clojure.string/replace prof #"^\+" ""))])]
                  (check (str ":profiles " prof " :source-paths = deps.edn " (keyword nm) " :extra-paths")
                         (:source-paths profile) (:extra-paths (alias (keyword nm))))
                  (check (str ":profiles " prof " :dependencies = deps.edn " (keyword nm) " :extra-deps")
                         (not-empty (into {} (map lein-dep->deps) (:dependencies profile)))
                         (not-empty (into {} (map deps-coord) (:extra-deps (alias (keyword nm)))))))))
          (println "  SKIP  :aliases" (pr-str nm) "(not a `run -m` alias)"))))
    (doseq [k [:test :run :bench]]
      (check (str ":jvm-opts = deps.edn " k " :jvm-opts") jvm-opts (vec (:jvm-opts (alias k)))))
    (check ":test-selectors :default = what .ci/test-runner.clj skips (^:slow)"
           '(complement :slow) (get-in p [:test-selectors :default]))
    (if (zero? @failures)
      (println "deps-check: project.clj and deps.edn/build.clj agree")
      (do (println (str "deps-check: " @failures " difference(s); project.clj is the source of truth: fix deps.edn/build.clj"))
          (System/exit 1)))))

(-main)
