/*
 * placehub's FHIR R4 validator: HAPI FHIR's instance validator, offline (the
 * R4 definitions and terminologies ship in hapi-fhir-validation-resources-r4),
 * kept running for a whole test session because its first validation costs
 * seconds and each later one a few milliseconds.
 *
 * Protocol: one resource (a Bundle, usually) per line of standard input, as
 * JSON on one line; for each, one line of JSON on standard output:
 *
 *   {"ok": true|false, "millis": N,
 *    "errors":   [{"location": "Bundle.entry[0]...", "message": "..."}],
 *    "warnings": [{"location": ..., "message": ...}]}
 *
 * ok is false when any issue is an error or fatal. Information-level issues
 * are dropped. An empty line is answered with an error, never skipped, so
 * the caller can always pair questions and answers. With file arguments it
 * validates those files instead, one answer line each, and exits 1 if any
 * has an error.
 *
 * IMPORTANT: standard output carries only answers. Anything a library prints
 * there is sent to standard error instead (System.out is swapped at start).
 */
package org.placehub.fhirvalidator;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.context.support.DefaultProfileValidationSupport;
import ca.uhn.fhir.validation.FhirValidator;
import ca.uhn.fhir.validation.ResultSeverityEnum;
import ca.uhn.fhir.validation.SingleValidationMessage;
import ca.uhn.fhir.validation.ValidationResult;
import java.io.BufferedReader;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.PrintStream;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.hl7.fhir.common.hapi.validation.support.CommonCodeSystemsTerminologyService;
import org.hl7.fhir.common.hapi.validation.support.InMemoryTerminologyServerValidationSupport;
import org.hl7.fhir.common.hapi.validation.support.SnapshotGeneratingValidationSupport;
import org.hl7.fhir.common.hapi.validation.support.ValidationSupportChain;
import org.hl7.fhir.common.hapi.validation.validator.FhirInstanceValidator;

public final class Main {
    private final FhirValidator validator;

    private Main() {
        FhirContext context = FhirContext.forR4();
        // Base R4 only: core profiles, code systems and value sets from the
        // jars, no terminology server (the tests run offline).
        ValidationSupportChain chain = new ValidationSupportChain(
                new DefaultProfileValidationSupport(context),
                new CommonCodeSystemsTerminologyService(context),
                new InMemoryTerminologyServerValidationSupport(context),
                new SnapshotGeneratingValidationSupport(context));
        FhirInstanceValidator instanceValidator = new FhirInstanceValidator(chain);
        validator = context.newValidator();
        validator.registerValidatorModule(instanceValidator);
    }

    /** One answer line for one resource's JSON text. */
    private String validate(String text) {
        long start = System.nanoTime();
        StringBuilder errors = new StringBuilder();
        StringBuilder warnings = new StringBuilder();
        if (text.isBlank()) {
            append(errors, "", "empty input: one resource as JSON on one line expected");
        } else {
            try {
                ValidationResult result = validator.validateWithResult(text);
                for (SingleValidationMessage message : result.getMessages()) {
                    ResultSeverityEnum severity = message.getSeverity();
                    String location = message.getLocationString();
                    if (severity == ResultSeverityEnum.ERROR || severity == ResultSeverityEnum.FATAL) {
                        append(errors, location, message.getMessage());
                    } else if (severity == ResultSeverityEnum.WARNING) {
                        append(warnings, location, message.getMessage());
                    }
                }
            } catch (RuntimeException e) { // unparseable input, among others
                append(errors, "", "not validated: " + e);
            }
        }
        long millis = (System.nanoTime() - start) / 1_000_000;
        return "{\"ok\":" + (errors.length() == 0) + ",\"millis\":" + millis + ",\"errors\":["
                + errors + "],\"warnings\":[" + warnings + "]}";
    }

    private static void append(StringBuilder list, String location, String message) {
        if (list.length() > 0) {
            list.append(',');
        }
        list.append("{\"location\":");
        quote(list, location == null ? "" : location);
        list.append(",\"message\":");
        quote(list, message == null ? "" : message);
        list.append('}');
    }

    /** A JSON string literal. */
    private static void quote(StringBuilder out, String text) {
        out.append('"');
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                default -> {
                    if (c < 0x20) {
                        out.append(String.format("\\u%04x", (int) c));
                    } else {
                        out.append(c);
                    }
                }
            }
        }
        out.append('"');
    }

    public static void main(String[] args) throws IOException {
        Writer answers = new OutputStreamWriter(new FileOutputStream(FileDescriptor.out),
                StandardCharsets.UTF_8);
        System.setOut(new PrintStream(new FileOutputStream(FileDescriptor.err), true,
                StandardCharsets.UTF_8));
        Main main = new Main();
        if (args.length > 0) {
            boolean allOk = true;
            for (String file : args) {
                String answer = main.validate(Files.readString(Path.of(file)));
                allOk &= answer.startsWith("{\"ok\":true");
                answers.write(answer + "\n");
            }
            answers.flush();
            System.exit(allOk ? 0 : 1);
        }
        BufferedReader questions = new BufferedReader(
                new InputStreamReader(System.in, StandardCharsets.UTF_8));
        for (String line; (line = questions.readLine()) != null; ) {
            answers.write(main.validate(line) + "\n");
            answers.flush();
        }
    }
}
